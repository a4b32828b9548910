/**
 * Invariant 6 in the library: bad input gets a typed OffloadError with a stable code and a clear
 * message, and nothing is written.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, defineTask, OffloadError, type Offload } from '../../src/index.js'
import { tempDb } from '../support/temp.js'

let offload: Offload | undefined

afterEach(async () => {
  await offload?.close()
  offload = undefined
})

function setup(): Offload {
  offload = createOffload({ store: `sqlite:${tempDb()}`, logger: false, maxPayloadSize: 1024 })
  offload.task('image.resize', { run: (input: unknown) => input })
  return offload
}

async function expectRejected(attempt: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await attempt().then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(OffloadError)
  expect(error).toMatchObject({ code, message: expect.stringMatching(message) })
}

async function expectNothingWritten(o: Offload): Promise<void> {
  expect(await o.countJobs()).toEqual([])
  expect((await o.listJobs()).jobs).toEqual([])
}

describe('enqueue rejects bad input and writes nothing', () => {
  const cases: [string, (o: Offload) => Promise<unknown>, string, RegExp][] = [
    ['an unknown task, suggesting the closest', (o) => o.enqueue('image.resise', {}), 'UNKNOWN_TASK', /unknown task 'image\.resise', did you mean 'image\.resize'\?/],
    ['an invalid queue name', (o) => o.enqueue('image.resize', {}, { queue: 'no spaces' }), 'INVALID_NAME', /queue name "no spaces" is not valid/],
    ['a function in the payload', (o) => o.enqueue('image.resize', { callback: () => 1 }), 'INVALID_PAYLOAD', /property 'callback' is a function/],
    ['a function deep in the payload, named by its path', (o) => o.enqueue('image.resize', { user: { hooks: [1, () => 1] } }), 'INVALID_PAYLOAD', /property 'user\.hooks\[1\]' is a function/],
    ['undefined inside an array', (o) => o.enqueue('image.resize', { list: [1, undefined] }), 'INVALID_PAYLOAD', /property 'list\[1\]' is undefined inside an array/],
    ['a BigInt in the payload', (o) => o.enqueue('image.resize', { n: 1n }), 'INVALID_PAYLOAD', /BigInt/],
    ['NaN in the payload', (o) => o.enqueue('image.resize', { width: NaN }), 'INVALID_PAYLOAD', /property 'width' is NaN/],
    ['a Map in the payload', (o) => o.enqueue('image.resize', { tags: new Map() }), 'INVALID_PAYLOAD', /Map, which JSON cannot carry/],
    ['a cycle in the payload', (o) => {
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      return o.enqueue('image.resize', cyclic)
    }, 'INVALID_PAYLOAD', /cycle/],
    ['a payload over the size limit', (o) => o.enqueue('image.resize', { blob: 'x'.repeat(2000) }), 'PAYLOAD_TOO_LARGE', /over the 1024-byte limit/],
    ['a negative delay', (o) => o.enqueue('image.resize', {}, { delay: -5 }), 'INVALID_OPTION', /delay must be a non-negative/],
    ['a delay that is not a duration', (o) => o.enqueue('image.resize', {}, { delay: 'soon' }), 'INVALID_OPTION', /delay must be a duration/],
    ['NaN priority', (o) => o.enqueue('image.resize', {}, { priority: NaN }), 'INVALID_OPTION', /priority must be an integer/],
    ['attempts below 1', (o) => o.enqueue('image.resize', {}, { attempts: 0 }), 'INVALID_OPTION', /attempts must be an integer from 1/],
    ['an unknown option, suggesting the closest', (o) => o.enqueue('image.resize', {}, { priorty: 1 } as object), 'UNKNOWN_OPTION', /unknown option 'priorty'.*did you mean 'priority'\?/],
    ['both delay and runAt', (o) => o.enqueue('image.resize', {}, { delay: '1s', runAt: new Date() }), 'INVALID_OPTION', /delay or runAt, not both/],
    ['an invalid runAt', (o) => o.enqueue('image.resize', {}, { runAt: new Date('nope') }), 'INVALID_OPTION', /runAt must be a valid Date/],
    ['a delay of more than ten years', (o) => o.enqueue('image.resize', {}, { delay: '99999999999d' }), 'INVALID_OPTION', /delay must be at most 10 years/],
    ['a runAt past the year 9999', (o) => o.enqueue('image.resize', {}, { runAt: new Date(8.64e15) }), 'INVALID_OPTION', /before the year 10000/],
    ['an empty key', (o) => o.enqueue('image.resize', {}, { key: '' }), 'INVALID_OPTION', /key must be a non-empty string/],
    ['a backoff function per job', (o) => o.enqueue('image.resize', {}, { backoff: (() => 1) as never }), 'INVALID_OPTION', /backoff function can only be set on the task/],
    ['an unknown backoff type', (o) => o.enqueue('image.resize', {}, { backoff: { type: 'linear' } as never }), 'INVALID_OPTION', /backoff\.type must be 'exponential' or 'fixed'/],
    ['metadata that is not an object', (o) => o.enqueue('image.resize', {}, { metadata: 'x' as never }), 'INVALID_OPTION', /metadata must be an object/],
  ]
  for (const [name, attempt, code, message] of cases) {
    test(name, async () => {
      const o = setup()
      await expectRejected(() => attempt(o), code, message)
      await expectNothingWritten(o)
    })
  }

  test('one bad job in enqueueMany writes none of the batch', async () => {
    const o = setup()
    await expectRejected(
      () => o.enqueueMany([{ task: 'image.resize', payload: { ok: 1 } }, { task: 'image.resize', payload: { ok: 2 }, options: { attempts: -1 } }]),
      'INVALID_OPTION',
      /attempts must be/,
    )
    await expectNothingWritten(o)
  })
})

describe('definitions and configuration are checked up front', () => {
  test('an unknown createOffload option suggests the closest', () => {
    expect(() => createOffload({ stor: 'sqlite::memory:' } as object)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_OPTION', message: "unknown option 'stor' in createOffload(), did you mean 'store'?" }),
    )
  })

  test('an unknown task option suggests the closest', () => {
    expect(() => defineTask('x', { run: () => 1, atempts: 3 } as never)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_OPTION', message: expect.stringContaining("did you mean 'attempts'?") }),
    )
  })

  test('an invalid task name says what is allowed', () => {
    expect(() => defineTask('bad name!', { run: () => 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_NAME', message: expect.stringContaining("use 1-128 letters, digits, '.', '_', '-' or ':'") }),
    )
  })

  test('a task defined twice', () => {
    const o = setup()
    expect(() => o.task('image.resize', { run: () => 1 })).toThrow(expect.objectContaining({ code: 'DUPLICATE_TASK' }))
  })

  test('an unknown work option suggests the closest', async () => {
    const o = setup()
    await expectRejected(() => o.work({ concurrenc: 5 } as object), 'UNKNOWN_OPTION', /did you mean 'concurrency'\?/)
  })

  test('a store URL with an unsupported scheme', () => {
    expect(() => createOffload({ store: 'mongodb://localhost/jobs' })).toThrow(
      expect.objectContaining({ code: 'INVALID_STORE', message: expect.stringContaining("unsupported scheme 'mongodb:'") }),
    )
  })

  test('listing by an unknown state suggests the closest', async () => {
    const o = setup()
    await expectRejected(() => o.listJobs({ state: 'complete' as never }), 'INVALID_OPTION', /did you mean 'completed'\?/)
  })
})

describe('steering jobs that do not allow it', () => {
  test('cancel and retry of an unknown id', async () => {
    const o = setup()
    await expectRejected(() => o.cancelJob('01a20000-0000-7000-8000-000000000000'), 'JOB_NOT_FOUND', /no job with id/)
    await expectRejected(() => o.retryJob('01a20000-0000-7000-8000-000000000000'), 'JOB_NOT_FOUND', /no job with id/)
  })

  test('retrying a queued job, cancelling a cancelled one', async () => {
    const o = setup()
    const job = await o.enqueue('image.resize', {})
    await expectRejected(() => o.retryJob(job.id), 'INVALID_STATE', /is queued: only failed or cancelled jobs can be retried/)
    await o.cancelJob(job.id)
    await expectRejected(() => o.cancelJob(job.id), 'INVALID_STATE', /is cancelled: only unfinished jobs can be cancelled/)
  })
})
