import { expect, test } from 'vitest'
import type { Offload } from '../../src/index.js'
import { openGate, serve, work } from './harness.js'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

test('POST /v1/jobs answers 202 with the job, Location and Retry-After, once the job is stored', async () => {
  const { request, offload } = await serve()
  const created = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'ada' }, priority: 3, attempts: 2, metadata: { by: 'test' } } })
  expect(created.status).toBe(202)
  const job = created.body
  expect(created.headers.get('location')).toBe(`/v1/jobs/${job.id}`)
  expect(created.headers.get('retry-after')).toBe('1')
  expect(job).toEqual({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    task: 'greet',
    queue: 'greetings',
    state: 'queued',
    payload: { name: 'ada' },
    result: null,
    metadata: { by: 'test' },
    priority: 3,
    attempts: 0,
    maxAttempts: 2,
    progress: null,
    errors: [],
    key: null,
    timeoutMs: null,
    runAt: expect.stringMatching(ISO),
    createdAt: expect.stringMatching(ISO),
    startedAt: null,
    finishedAt: null,
    workerId: null,
    errorFingerprint: null,
    group: null,
    webhook: null,
    links: { self: `/v1/jobs/${job.id}`, events: `/v1/jobs/${job.id}/events`, cancel: `/v1/jobs/${job.id}/cancel` },
  })
  const stored = await offload.getJob(job.id)
  expect(stored).toMatchObject({ task: 'greet', state: 'queued', payload: { name: 'ada' }, priority: 3, maxAttempts: 2 })

  // The same job, read back: what was answered is what is stored.
  const read = await request('GET', `/v1/jobs/${job.id}`)
  expect(read.status).toBe(200)
  expect({ ...read.body, runAt: null, createdAt: null }).toEqual({ ...job, runAt: null, createdAt: null })
})

test('delay and runAt schedule the job; a payload is optional (null)', async () => {
  const { request } = await serve()
  const delayed = await request('POST', '/v1/jobs', { body: { task: 'greet', delay: '1h' } })
  expect(delayed.body).toMatchObject({ state: 'scheduled', payload: null })
  expect(Date.parse(delayed.body.runAt) - Date.parse(delayed.body.createdAt)).toBeGreaterThanOrEqual(3_600_000 - 1000)
  const at = await request('POST', '/v1/jobs', { body: { task: 'greet', runAt: '2099-01-02T03:04:05Z', queue: 'elsewhere' } })
  expect(at.body).toMatchObject({ state: 'scheduled', queue: 'elsewhere', runAt: '2099-01-02T03:04:05.000Z' })
  const ms = await request('POST', '/v1/jobs', { body: { task: 'greet', delay: 60_000 } })
  expect(ms.body.state).toBe('scheduled')
})

test('an enqueue the library refuses is a 400 with its code and message, and writes nothing', async () => {
  const { request, offload } = await serve()
  const cases: [unknown, string, RegExp][] = [
    [{ task: 'gret' }, 'UNKNOWN_TASK', /unknown task 'gret', did you mean 'greet'\?/],
    [{ task: 'greet', queue: 'no spaces' }, 'INVALID_NAME', /queue name "no spaces" is not valid/],
    [{ task: 'greet', delay: 'soon' }, 'INVALID_OPTION', /delay must be a duration/],
    [{ task: 'greet', delay: '99999999d' }, 'INVALID_OPTION', /delay must be at most 10 years/],
    [{ task: 'greet', delay: '1s', runAt: '2099-01-01T00:00:00Z' }, 'INVALID_OPTION', /delay or runAt, not both/],
    [{ task: 'greet', webhook: 'ftp://example.com' }, 'INVALID_OPTION', /webhook must be an http or https URL/],
    [{ task: 'greet', webhook: 'https://example.com/hook' }, 'INVALID_OPTION', /needs a signing secret/],
  ]
  for (const [body, code, message] of cases) {
    const answer = await request('POST', '/v1/jobs', { body })
    expect({ status: answer.status, code: answer.body.error.code }, JSON.stringify(body)).toEqual({ status: 400, code })
    expect(answer.body.error.message).toMatch(message)
  }
  expect(await offload.countJobs()).toEqual([])
})

test('Idempotency-Key: a replay answers 200 with the same job and Idempotent-Replayed: true, and makes no second job', async () => {
  const { request, offload } = await serve()
  const headers = { 'idempotency-key': 'order-42' }
  const first = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'ada' } }, headers })
  expect(first.status).toBe(202)
  expect(first.headers.get('idempotent-replayed')).toBeNull()
  expect(first.body.key).toBe('order-42')
  const replays = await Promise.all([1, 2, 3].map(() => request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'ada' } }, headers })))
  for (const replay of replays) {
    expect(replay.status).toBe(200)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.headers.get('location')).toBe(`/v1/jobs/${first.body.id}`)
    expect(replay.body.id).toBe(first.body.id)
  }
  // The key in the body means the same; both at once must agree.
  const body = await request('POST', '/v1/jobs', { body: { task: 'greet', key: 'order-42' } })
  expect(body.status).toBe(200)
  expect(body.body.id).toBe(first.body.id)
  const differ = await request('POST', '/v1/jobs', { body: { task: 'greet', key: 'other' }, headers })
  expect(differ.status).toBe(400)
  expect(differ.body.error.message).toMatch(/Idempotency-Key header and the body's key differ/)
  expect(await offload.countJobs()).toEqual([{ queue: 'greetings', state: 'queued', count: 1 }])
})

test('the idempotency key is held for idempotencyTtl after the job finished', async () => {
  const { request, offload } = await serve({ server: { idempotencyTtl: '1h' } })
  await work(offload)
  const headers = { 'idempotency-key': 'once' }
  const first = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'ada' } }, headers })
  const done = await request('GET', `/v1/jobs/${first.body.id}?wait=30s`)
  expect(done.body.state).toBe('completed')
  const replay = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'ada' } }, headers })
  expect(replay.status).toBe(200)
  expect(replay.body).toMatchObject({ id: first.body.id, state: 'completed', result: { greeting: 'hello, ada' } })
})

test('GET /v1/jobs/:id?wait long-polls over a real socket until a worker finishes the job', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'poll' } } })
  const polled = request('GET', `/v1/jobs/${job.id}?wait=30s`)
  // The poll is held while the job runs...
  await expect.poll(async () => (await offload.getJob(job.id))?.progress, { timeout: 10_000 }).toBe(50)
  let answered = false
  void polled.then(() => (answered = true))
  await new Promise((resolve) => setImmediate(resolve))
  expect(answered).toBe(false)
  // ...and answered as soon as it finishes.
  const started = Date.now()
  openGate('poll', { ok: true })
  const answer = await polled
  expect(Date.now() - started).toBeLessThan(10_000)
  expect(answer.status).toBe(200)
  expect(answer.body).toMatchObject({ id: job.id, state: 'completed', result: { ok: true }, attempts: 1, progress: 50 })
  expect(answer.body.startedAt).toMatch(ISO)
  expect(answer.body.finishedAt).toMatch(ISO)
  expect(answer.body.links).toEqual({ self: `/v1/jobs/${job.id}`, events: `/v1/jobs/${job.id}/events` })
})

test('a long poll that runs out answers the job as it is; wait=0 does not wait', async () => {
  const { request } = await serve()
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } } })
  const started = Date.now()
  const answer = await request('GET', `/v1/jobs/${job.id}?wait=300ms`)
  expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  expect(answer).toMatchObject({ status: 200, body: { id: job.id, state: 'queued' } })
  expect((await request('GET', `/v1/jobs/${job.id}?wait=0`)).body.state).toBe('queued')
  const bad = await request('GET', `/v1/jobs/${job.id}?wait=forever`)
  expect(bad.status).toBe(400)
  expect(bad.body.error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/^wait must be a duration/) })
})

/** Watches the server's waits on the instance it serves: `started` when one begins, `ended` with how it ended. */
function watchWaits(offload: Offload): { started: Promise<void>; ended: () => Promise<unknown> } {
  const waitForJob = offload.waitForJob.bind(offload)
  let ended: Promise<unknown> | undefined
  let begin!: () => void
  const started = new Promise<void>((resolve) => (begin = resolve))
  offload.waitForJob = (id, options) => {
    const wait = waitForJob(id, options)
    ended = wait.catch((error: unknown) => error)
    begin()
    return wait
  }
  return { started, ended: () => ended! }
}

test('a long poll ends when its client hangs up', async () => {
  const { request, offload } = await serve()
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } } })
  const waits = watchWaits(offload)
  const client = new AbortController()
  const polled = request('GET', `/v1/jobs/${job.id}?wait=60s`, { signal: client.signal }).catch((error: unknown) => error)
  await waits.started
  client.abort()
  expect(await polled).toMatchObject({ name: 'AbortError' })
  // Ended by the hang-up, not by the 60s: the test would time out first.
  expect(await waits.ended()).toMatchObject({ code: 'ABORTED' })
})

test('closing the server answers a long poll in flight at once, with the job as it is', async () => {
  const { request, offload, server } = await serve()
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } } })
  const waits = watchWaits(offload)
  const polled = request('GET', `/v1/jobs/${job.id}?wait=60s`)
  await waits.started
  await server.close()
  expect(await polled).toMatchObject({ status: 200, body: { id: job.id, state: 'queued' } })
  expect(await waits.ended()).toMatchObject({ code: 'ABORTED' })
  // Closed is closed: a new request finds no one listening.
  await expect(request('GET', '/healthz')).rejects.toThrow()
})

test('GET a job that does not exist is 404 JOB_NOT_FOUND; a malformed id is 400', async () => {
  const { request } = await serve()
  const missing = await request('GET', '/v1/jobs/01a20000-0000-7000-8000-000000000000')
  expect(missing.status).toBe(404)
  expect(missing.body.error).toEqual({ code: 'JOB_NOT_FOUND', message: 'no job with id 01a20000-0000-7000-8000-000000000000', details: { id: '01a20000-0000-7000-8000-000000000000' } })
  const malformed = await request('GET', '/v1/jobs/not%20an%20id')
  expect(malformed.status).toBe(400)
  expect(malformed.body.error).toMatchObject({ code: 'INVALID_REQUEST', details: { in: 'path', path: 'path.id', rule: 'pattern' } })
})

test('a failed job shows its errors and a retry link; retry puts it back (202), cancel and retry refuse the wrong states (409)', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'fail', payload: { reason: 'no such user' } } })
  const failed = await request('GET', `/v1/jobs/${job.id}?wait=30s`)
  expect(failed.body).toMatchObject({ state: 'failed', attempts: 1, maxAttempts: 1 })
  expect(failed.body.errors).toEqual([{ attempt: 1, at: expect.stringMatching(ISO), name: 'PermanentError', message: 'no such user', stack: expect.any(String) }])
  expect(failed.body.links.retry).toBe(`/v1/jobs/${job.id}/retry`)
  expect(failed.body.links.cancel).toBeUndefined()

  const cancel = await request('POST', `/v1/jobs/${job.id}/cancel`)
  expect(cancel.status).toBe(409)
  expect(cancel.body.error.code).toBe('INVALID_STATE')

  const retried = await request('POST', `/v1/jobs/${job.id}/retry`)
  expect(retried.status).toBe(202)
  expect(retried.body).toMatchObject({ id: job.id, state: 'queued', attempts: 0 })
  const again = await request('GET', `/v1/jobs/${job.id}?wait=30s`)
  expect(again.body.state).toBe('failed')

  const queued = await request('POST', '/v1/jobs', { body: { task: 'greet', delay: '1h' } })
  const retryQueued = await request('POST', `/v1/jobs/${queued.body.id}/retry`)
  expect(retryQueued.status).toBe(409)
})

test('cancel answers the cancelled job; a running job is aborted; cancel and retry of an unknown job are 404', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'never' } } })
  await expect.poll(async () => (await offload.getJob(job.id))?.state, { timeout: 10_000 }).toBe('running')
  const cancelled = await request('POST', `/v1/jobs/${job.id}/cancel`, { body: {}, headers: { 'content-type': 'application/json' } })
  expect(cancelled.status).toBe(200)
  expect(cancelled.body).toMatchObject({ id: job.id, state: 'cancelled', links: { retry: `/v1/jobs/${job.id}/retry` } })
  for (const action of ['cancel', 'retry']) {
    const answer = await request('POST', `/v1/jobs/01a20000-0000-7000-8000-000000000000/${action}`)
    expect(answer.status).toBe(404)
    expect(answer.body.error.code).toBe('JOB_NOT_FOUND')
  }
  const withBody = await request('POST', `/v1/jobs/${job.id}/cancel`, { body: { force: true } })
  expect(withBody.status).toBe(400)
  expect(withBody.body.error).toMatchObject({ code: 'UNKNOWN_FIELD', message: "unknown field 'force' in body: it takes none" })
})

test('GET /v1/jobs lists newest first with keyset pagination and filters', async () => {
  const { request } = await serve()
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: `n${i}` } } })).body.id)
  const scheduled = (await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'x' }, delay: '1h' } })).body.id

  const first = await request('GET', '/v1/jobs?limit=4')
  expect(first.status).toBe(200)
  expect(first.body.jobs.map((job: any) => job.id)).toEqual([scheduled, ...ids.slice(2).reverse()])
  expect(first.body.nextCursor).toBe(ids[2])
  const second = await request('GET', `/v1/jobs?limit=4&cursor=${first.body.nextCursor}`)
  expect(second.body).toMatchObject({ jobs: [{ id: ids[1] }, { id: ids[0] }], nextCursor: null })

  expect((await request('GET', '/v1/jobs?state=scheduled')).body.jobs.map((job: any) => job.id)).toEqual([scheduled])
  expect((await request('GET', '/v1/jobs?state=scheduled,queued')).body.jobs).toHaveLength(6)
  expect((await request('GET', '/v1/jobs?state=scheduled&state=failed')).body.jobs).toHaveLength(1)
  expect((await request('GET', '/v1/jobs?queue=gates')).body.jobs.map((job: any) => job.id)).toEqual([scheduled])
  expect((await request('GET', '/v1/jobs?task=greet&limit=1')).body).toMatchObject({ jobs: [{ id: ids[4] }], nextCursor: ids[4] })

  const typo = await request('GET', '/v1/jobs?state=runing')
  expect(typo.status).toBe(400)
  expect(typo.body.error.message).toBe("unknown job state \"runing\", did you mean 'running'?")
  const unknown = await request('GET', '/v1/jobs?limt=5')
  expect(unknown.body.error).toMatchObject({ code: 'UNKNOWN_FIELD', message: "unknown field 'limt' in query, did you mean 'limit'?" })
  const tooMany = await request('GET', '/v1/jobs?limit=5000')
  expect(tooMany.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'query.limit must be <= 1000' })
})

test('DELETE /v1/jobs/:id deletes a finished job (204) and refuses an unfinished one (409)', async () => {
  const { request, offload } = await serve()
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } } })
  const unfinished = await request('DELETE', `/v1/jobs/${job.id}`)
  expect(unfinished.status).toBe(409)
  expect(unfinished.body.error.code).toBe('INVALID_STATE')
  await request('POST', `/v1/jobs/${job.id}/cancel`)
  const deleted = await request('DELETE', `/v1/jobs/${job.id}`)
  expect(deleted.status).toBe(204)
  expect(deleted.body).toBeUndefined()
  expect(await offload.getJob(job.id)).toBeUndefined()
  expect((await request('DELETE', `/v1/jobs/${job.id}`)).status).toBe(404)
})

test('a job with a webhook shows it with its deliveries', async () => {
  const { request, offload } = await serve({ config: { webhooks: { secret: 'a-secret-of-16-chars-or-more' } } })
  const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' }, webhook: 'https://example.com/done' } })
  expect(job.webhook).toEqual({ url: 'https://example.com/done', deliveries: [] })
  await offload.store.eventAppend({ jobId: job.id, type: 'webhook', data: { url: 'https://example.com/done', status: 500, ok: false } })
  const read = await request('GET', `/v1/jobs/${job.id}`)
  expect(read.body.webhook).toEqual({ url: 'https://example.com/done', deliveries: [{ url: 'https://example.com/done', status: 500, ok: false, at: expect.stringMatching(ISO) }] })
  const page = await request('GET', '/v1/jobs')
  expect(page.body.jobs[0].webhook).toEqual({ url: 'https://example.com/done', deliveries: null })
})
