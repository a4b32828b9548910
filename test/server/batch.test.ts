import { expect, test } from 'vitest'
import { serve } from './harness.js'

test('POST /v1/jobs/batch enqueues every job in one go: 202, one result per job in order', async () => {
  const { request, offload } = await serve()
  const answer = await request('POST', '/v1/jobs/batch', {
    body: { jobs: [{ task: 'greet', payload: { name: 'a' } }, { task: 'gate', payload: { gate: 'g' }, delay: '1h' }, { task: 'greet', key: 'k' }] },
  })
  expect(answer.status).toBe(202)
  expect(answer.headers.get('retry-after')).toBe('1')
  expect(answer.body.results).toEqual([
    { status: 202, replayed: false, job: expect.objectContaining({ task: 'greet', state: 'queued', payload: { name: 'a' } }) },
    { status: 202, replayed: false, job: expect.objectContaining({ task: 'gate', state: 'scheduled' }) },
    { status: 202, replayed: false, job: expect.objectContaining({ task: 'greet', key: 'k' }) },
  ])
  for (const result of answer.body.results) expect(await offload.getJob(result.job.id)).toMatchObject({ task: result.job.task })

  // A key already held returns its job, marked as a replay; the rest are new.
  const again = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 'greet', key: 'k' }, { task: 'greet' }] } })
  expect(again.status).toBe(202)
  expect(again.body.results).toEqual([
    { status: 200, replayed: true, job: expect.objectContaining({ id: answer.body.results[2].job.id }) },
    { status: 202, replayed: false, job: expect.objectContaining({ task: 'greet' }) },
  ])
  expect((await offload.listJobs()).jobs).toHaveLength(4)
})

test('a batch with invalid jobs is refused whole: 400 INVALID_BATCH lists every bad job, and nothing is written', async () => {
  const { request, offload } = await serve()
  const answer = await request('POST', '/v1/jobs/batch', {
    body: {
      jobs: [
        { task: 'greet', payload: { name: 'fine' } },
        { task: 'gret' },
        { task: 'greet', priority: '5' },
        { task: 'greet', priorty: 5 },
        { task: 'greet', queue: 'bad queue' },
        'not an object',
        { task: 'greet', delay: '1s', runAt: '2099-01-01T00:00:00Z' },
        { task: 'greet', payload: { fine: true } },
      ],
    },
  })
  expect(answer.status).toBe(400)
  expect(answer.body.error.code).toBe('INVALID_BATCH')
  expect(answer.body.error.message).toBe("6 jobs are invalid (first: job 1, unknown task 'gret', did you mean 'greet'?); nothing was written")
  expect(answer.body.error.details.items).toEqual([
    { index: 1, code: 'UNKNOWN_TASK', message: "unknown task 'gret', did you mean 'greet'?", details: { task: 'gret', suggestion: 'greet' } },
    { index: 2, code: 'INVALID_REQUEST', message: 'body.jobs[2].priority must be integer', details: expect.objectContaining({ rule: 'type' }) },
    { index: 3, code: 'UNKNOWN_FIELD', message: "unknown field 'priorty' in body.jobs[3], did you mean 'priority'?", details: expect.objectContaining({ field: 'priorty' }) },
    { index: 4, code: 'INVALID_NAME', message: expect.stringMatching(/^queue name "bad queue" is not valid/), details: { queue: 'bad queue' } },
    { index: 5, code: 'INVALID_REQUEST', message: 'body.jobs[5] must be object', details: expect.objectContaining({ rule: 'type' }) },
    { index: 6, code: 'INVALID_OPTION', message: 'give delay or runAt, not both', details: { option: 'delay' } },
  ])
  expect(await offload.countJobs()).toEqual([])
  expect(await offload.store.eventLastSeq()).toBe(0)
})

test('a batch over 1,000 jobs, an empty one, or a wrong envelope is a 400', async () => {
  const { request, offload } = await serve()
  const tooMany = await request('POST', '/v1/jobs/batch', { body: { jobs: Array.from({ length: 1001 }, () => ({ task: 'greet' })) } })
  expect(tooMany.status).toBe(400)
  expect(tooMany.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'body.jobs must NOT have more than 1000 items' })
  const empty = await request('POST', '/v1/jobs/batch', { body: { jobs: [] } })
  expect(empty.body.error.message).toBe('body.jobs must NOT have fewer than 1 items')
  // A bad job and a bad envelope: the envelope is what is wrong first.
  const extra = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 1 }], dryRun: true } })
  expect(extra.body.error).toMatchObject({ code: 'UNKNOWN_FIELD', message: "unknown field 'dryRun' in body; known: jobs" })
  const none = await request('POST', '/v1/jobs/batch', { body: {} })
  expect(none.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: "body needs the field 'jobs'" })
  const header = await request('POST', '/v1/jobs/batch', { body: { jobs: [{ task: 'greet' }] }, headers: { 'idempotency-key': 'x' } })
  expect(header.body.error.message).toBe('a batch takes no Idempotency-Key header: give each job its own key')
  expect(await offload.countJobs()).toEqual([])
})

test('exactly 1,000 jobs go in one transaction', async () => {
  const { request, offload } = await serve()
  const answer = await request('POST', '/v1/jobs/batch', { body: { jobs: Array.from({ length: 1000 }, (_, i) => ({ task: 'greet', payload: { name: `n${i}` } })) } })
  expect(answer.status).toBe(202)
  expect(answer.body.results).toHaveLength(1000)
  expect(await offload.countJobs()).toEqual([{ queue: 'greetings', state: 'queued', count: 1000 }])
})
