import { expect, test } from 'vitest'
import { serve, work } from './harness.js'

const ZERO = { '1m': 0, '5m': 0, '15m': 0 }

test('GET /v1/queues: counts by state, activity over the last minutes, the head of the queue\'s age, paused or not', async () => {
  const { request, offload } = await serve()
  const before = await request('GET', '/v1/queues')
  expect(before.status).toBe(200)
  expect(before.body).toEqual({ activitySince: expect.any(String), queues: [] })

  await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'a' } } })
  await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'q' }, delay: '1h' } })
  const queued = await request('GET', '/v1/queues')
  expect(queued.body.queues).toEqual([
    {
      queue: 'gates',
      paused: false,
      counts: { scheduled: 1, queued: 0, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0 },
      oldestQueuedAgeSeconds: null,
      enqueued: expect.any(Object),
      completed: ZERO,
      failed: ZERO,
    },
    {
      queue: 'greetings',
      paused: false,
      counts: { scheduled: 0, queued: 1, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0 },
      oldestQueuedAgeSeconds: expect.any(Number),
      enqueued: expect.any(Object),
      completed: ZERO,
      failed: ZERO,
    },
  ])
  expect(queued.body.queues[1].oldestQueuedAgeSeconds).toBeGreaterThanOrEqual(0)
  expect(queued.body.queues[1].oldestQueuedAgeSeconds).toBeLessThan(60)

  // Throughput and failures come from the events the server has seen.
  await work(offload)
  const job = await request('POST', '/v1/jobs', { body: { task: 'fail' } })
  await request('GET', `/v1/jobs/${job.body.id}?wait=30s`)
  await expect
    .poll(async () => (await request('GET', '/v1/queues')).body.queues.find((queue: any) => queue.queue === 'default'), { timeout: 10_000 })
    .toMatchObject({ enqueued: { '1m': 1, '5m': 1, '15m': 1 }, failed: { '1m': 1, '5m': 1, '15m': 1 }, counts: { failed: 1 } })
  await expect
    .poll(async () => (await request('GET', '/v1/queues')).body.queues.find((queue: any) => queue.queue === 'greetings'), { timeout: 10_000 })
    .toMatchObject({ completed: { '1m': 1 }, counts: { completed: 1, queued: 0 }, oldestQueuedAgeSeconds: null })
})

test('POST /v1/queues/:queue/pause stops workers claiming from it; resume lets them again', async () => {
  const { request, offload } = await serve()
  const paused = await request('POST', '/v1/queues/greetings/pause')
  expect(paused).toMatchObject({ status: 200, body: { queue: 'greetings', paused: true } })
  expect((await request('GET', '/v1/queues')).body.queues).toEqual([expect.objectContaining({ queue: 'greetings', paused: true })])
  await work(offload)
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'p' } } })
  const held = await request('GET', `/v1/jobs/${job.id}?wait=500ms`)
  expect(held.body.state).toBe('queued')

  const resumed = await request('POST', '/v1/queues/greetings/resume')
  expect(resumed).toMatchObject({ status: 200, body: { queue: 'greetings', paused: false } })
  expect((await request('GET', `/v1/jobs/${job.id}?wait=30s`)).body.state).toBe('completed')
  // Both are idempotent, and a bad queue name is the library's 400.
  expect((await request('POST', '/v1/queues/greetings/resume')).status).toBe(200)
  const bad = await request('POST', '/v1/queues/no%20spaces/pause')
  expect(bad.status).toBe(400)
  expect(bad.body.error.code).toBe('INVALID_NAME')
})

test('a queue at its maxQueued refuses enqueues with 429 QUEUE_FULL and Retry-After, and writes nothing', async () => {
  const { request, offload } = await serve({ config: { queues: { greetings: { maxQueued: 2 } } } })
  for (let i = 0; i < 2; i++) expect((await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: `n${i}` } } })).status).toBe(202)
  const full = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'n3' } } })
  expect(full.status).toBe(429)
  expect(full.headers.get('retry-after')).toBe('1')
  expect(full.body.error).toEqual({
    code: 'QUEUE_FULL',
    message: "queue 'greetings' is full: 2 jobs queued, the limit is 2",
    details: { queue: 'greetings', limit: 2, queued: 2 },
  })
  const batch = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 'gate', payload: { gate: 'x' } }, { task: 'greet' }] } })
  expect(batch.status).toBe(429)
  // Other queues are not held back.
  expect((await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'x' } } })).status).toBe(202)
  expect(await offload.countJobs()).toEqual(
    expect.arrayContaining([
      { queue: 'greetings', state: 'queued', count: 2 },
      { queue: 'gates', state: 'queued', count: 1 },
    ]),
  )
  expect(await offload.countJobs()).toHaveLength(2)
})
