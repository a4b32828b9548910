import { expect, test } from 'vitest'
import { openGate, serve, work } from './harness.js'

test('debounce over HTTP: 202 for the new job, then 200 with it, holding the latest payload', async () => {
  const { request } = await serve()
  const debounce = { key: 'greet:ada', delay: '1h' }
  const first = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'a' }, debounce } })
  expect(first.status).toBe(202)
  expect(first.body).toMatchObject({ state: 'scheduled', payload: { name: 'a' } })
  const second = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'b' }, debounce: { ...debounce, maxWait: '2h' } } })
  expect(second.status).toBe(200)
  expect(second.headers.get('idempotent-replayed')).toBe('true')
  expect(second.body).toMatchObject({ id: first.body.id, state: 'scheduled', payload: { name: 'b' } })
  expect(Date.parse(second.body.runAt)).toBeGreaterThanOrEqual(Date.parse(first.body.runAt))
})

test('throttle over HTTP: one job per window, alone in a batch', async () => {
  const { request } = await serve()
  const throttle = { key: 'k', window: 60_000 }
  const first = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'a' }, throttle } })
  expect(first.status).toBe(202)
  const second = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'b' }, throttle } })
  expect(second).toMatchObject({ status: 200, body: { id: first.body.id, payload: { name: 'a' } } })
  const alone = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 'greet', payload: { name: 'c' }, throttle }] } })
  expect(alone.status).toBe(202)
  expect(alone.body.results).toEqual([expect.objectContaining({ status: 200, replayed: true, job: expect.objectContaining({ id: first.body.id }) })])
  const batch = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 'greet', payload: { name: 'c' } }, { task: 'greet', throttle }] } })
  expect(batch.status).toBe(400)
  expect(batch.body.error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/throttle takes one job per call/) })
})

test('bad debounce and throttle values are 400s that name the field, and write nothing', async () => {
  const { request } = await serve()
  const bodies = [
    { task: 'greet', debounce: { key: 'k' } },
    { task: 'greet', debounce: { key: '', delay: '1s' } },
    { task: 'greet', debounce: { key: 'k', delay: '1s', extra: 1 } },
    { task: 'greet', debounce: { key: 'k', delay: 0 } },
    { task: 'greet', debounce: { key: 'k', delay: 'soon' } },
    { task: 'greet', debounce: { key: 'k', delay: '1s' }, delay: '1s' },
    { task: 'greet', debounce: { key: 'k', delay: '1s' }, key: 'x' },
    { task: 'greet', throttle: { key: 'k', window: '1s' }, debounce: { key: 'k', delay: '1s' } },
    { task: 'greet', throttle: 'k' },
    { task: 'greet', throttle: { key: 'k', window: -5 } },
  ]
  for (const body of bodies) {
    const answer = await request('POST', '/v1/jobs', { body })
    expect(answer.status, JSON.stringify(body)).toBe(400)
    expect(answer.body.error).toEqual({ code: expect.any(String), message: expect.any(String), details: expect.any(Object) })
  }
  expect((await request('GET', '/v1/jobs')).body.jobs).toEqual([])
})

test("a request to a full whenFull: 'wait' queue is answered 202 once a worker makes room", async () => {
  const { request, offload } = await serve({ config: { queues: { gates: { maxQueued: 1, whenFull: 'wait', fullTimeout: '30s' } } } })
  const first = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'wait-room' } } })
  expect(first.status).toBe(202)
  const second = request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'wait-room' } } })
  await work(offload)
  const answer = await second
  expect(answer.status).toBe(202)
  openGate('wait-room')
  const started = (await offload.getJob(first.body.id))!.startedAt!.getTime()
  expect(Date.parse(answer.body.createdAt)).toBeGreaterThanOrEqual(started)
})

test("a request to a full whenFull: 'wait' queue is a 429 with Retry-After once fullTimeout passes", async () => {
  const { request } = await serve({ config: { queues: { gates: { maxQueued: 1, whenFull: 'wait', fullTimeout: '300ms' } } } })
  await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'never' } } })
  const started = Date.now()
  const answer = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'never' } } })
  // About time by requirement: it waited for the timeout, not forever.
  expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  expect(answer.status).toBe(429)
  expect(answer.headers.get('retry-after')).toBe('1')
  expect(answer.body.error).toMatchObject({ code: 'QUEUE_FULL', details: { queue: 'gates', limit: 1 } })
})
