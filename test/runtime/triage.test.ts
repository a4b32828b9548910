/**
 * Failure triage, job search by key and the worker registry through the library: what a dashboard
 * asks of Offload, on each store.
 */
import { hostname } from 'node:os'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { createOffload, errorFingerprint, OffloadError, type JobContext, type Offload } from '../../src/index.js'
import { uuidv7 } from '../../src/ids.js'
import { STORE_KINDS } from '../support/stores.js'

let offload: Offload | undefined

afterEach(async () => {
  await offload?.close({ grace: 0 })
  offload = undefined
})

let newStore: () => string = () => {
  throw new Error('setup() runs inside a describe.each(STORE_KINDS) block')
}

function setup(): Offload {
  offload = createOffload({ store: newStore(), logger: false })
  return offload
}

/** A promise with its resolver, for handlers that report to the test. */
function signal<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

async function expectRejected(attempt: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await attempt().then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(OffloadError)
  expect(error).toMatchObject({ code, message: expect.stringMatching(message) })
}

describe.each(STORE_KINDS)('%s store', (_name, storeOfKind) => {
  beforeEach(() => {
    newStore = storeOfKind
  })

  test('jobs failing the same way form one group: listed, searched by fingerprint and retried together', async () => {
    const o = setup()
    let failing = true
    const load = o.task('users.load', {
      attempts: 1,
      run(input: { user: number }) {
        if (failing) throw new Error(`user ${input.user} not found`)
        return input.user
      },
    })
    const other = o.task('users.save', {
      attempts: 1,
      run() {
        throw new TypeError('cannot read properties of undefined')
      },
    })
    await o.work({ handleSignals: false })
    const loads = await load.enqueueMany([1, 2, 3].map((user) => ({ payload: { user }, options: { key: `user:${user}` } })))
    const save = await other.enqueue()
    for (const job of [...loads, save]) await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED' })

    const groups = await o.listFailureGroups()
    expect(groups.map((group) => [group.count, group.tasks])).toEqual([
      [3, ['users.load']],
      [1, ['users.save']],
    ])
    const [group] = groups
    expect(group!.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(group!.sample).toMatchObject({ name: 'Error', message: expect.stringMatching(/^user \d not found$/) })
    // The fingerprint the library gives an error, as the store recorded it.
    const failed = (await o.getJob(group!.sample.jobId))!
    expect(group!.fingerprint).toBe(errorFingerprint(failed.errors.at(-1)!))
    expect(failed.errorFingerprint).toBe(group!.fingerprint)
    expect(await o.listFailureGroups({ task: 'users.save' })).toEqual([groups[1]])
    expect(await o.listFailureGroups({ limit: 1 })).toEqual([group])

    const listed = await o.listJobs({ fingerprint: group!.fingerprint })
    expect(listed.jobs.map((job) => job.id)).toEqual(loads.map((job) => job.id).reverse())
    expect((await o.listJobs({ key: 'user:2' })).jobs.map((job) => job.id)).toEqual([loads[1]!.id])

    failing = false
    expect(await o.retryFailureGroup(group!.fingerprint)).toEqual({ retried: 3 })
    expect(await Promise.all(loads.map((job) => job.result({ timeout: '10s' })))).toEqual([1, 2, 3])
    expect((await o.listFailureGroups()).map((g) => g.count)).toEqual([1])
    expect(await o.retryFailureGroup(group!.fingerprint)).toEqual({ retried: 0 })
  })

  test('retryFailureGroup goes through a group of more than one chunk, and passes over jobs whose key is held', async () => {
    const o = setup()
    const store = o.store
    await o.migrate()
    // 2,100 jobs failed the same way, written through the store: no worker needed.
    const jobs = Array.from({ length: 2100 }, (_, i) => ({
      id: uuidv7(),
      task: 'bulk',
      queue: 'bulk',
      payload: '{}',
      priority: 0,
      maxAttempts: 1,
      ...(i === 0 ? { key: 'held' } : {}),
    }))
    await store.jobInsertMany({ jobs })
    const claimed = []
    while (claimed.length < jobs.length) claimed.push(...(await store.jobClaim({ queues: ['bulk'], workerId: 'w', limit: 1000, leaseMs: 60_000 })))
    const error = { name: 'Error', message: 'upstream 502', stack: 'Error: upstream 502\n    at call (/app/src/client.ts:1:1)' }
    await store.jobFinishMany({ finishes: claimed.map((job) => ({ id: job.id, lease: job.lease, outcome: 'failed' as const, error })) })
    // The first job's key is taken by a new job meanwhile: it must stay failed.
    await store.jobInsertMany({ jobs: [{ ...jobs[0]!, id: uuidv7(), runAt: Date.now() + 3_600_000 }] })

    const fingerprint = errorFingerprint(error)
    expect(await o.retryFailureGroup(fingerprint, { queue: 'bulk', task: 'bulk' })).toEqual({ retried: 2099 })
    expect(await o.listFailureGroups()).toMatchObject([{ fingerprint, count: 1, sample: { jobId: jobs[0]!.id } }])
    expect(await o.retryFailureGroup(fingerprint)).toEqual({ retried: 0 })
    expect(await o.retryFailureGroup(fingerprint, { queue: 'elsewhere' })).toEqual({ retried: 0 })
  })

  test('listWorkers shows a worker from the moment work() resolves, with the jobs it runs; a stopped worker leaves at once', async () => {
    const o = setup()
    const started = signal<string>()
    const release = signal()
    o.task('hold', {
      queue: 'holding',
      async run(_input: unknown, ctx: JobContext<unknown>) {
        await ctx.progress({ step: 1 })
        started.resolve(ctx.jobId)
        await release.promise
      },
    })
    const worker = await o.work({ handleSignals: false, concurrency: 3, queues: ['holding', 'other'] })
    const [listed] = await o.listWorkers()
    expect(listed).toMatchObject({ id: worker.id, host: hostname(), pid: process.pid, queues: ['holding', 'other'], concurrency: 3, running: [] })
    expect(listed!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(listed!.startedAt.getTime() - 1000)

    const job = await o.enqueue('hold')
    expect(await started.promise).toBe(job.id)
    const [busy] = await o.listWorkers()
    expect(busy!.running).toEqual([
      { id: job.id, task: 'hold', queue: 'holding', attempt: 1, startedAt: expect.any(Date), progress: { step: 1 } },
    ])

    release.resolve()
    await job.result({ timeout: '10s' })
    await worker.stop()
    expect(await o.listWorkers()).toEqual([])
  })
})

describe('failure triage and registry options are checked', () => {
  const cases: [string, (o: Offload) => Promise<unknown>, string, RegExp][] = [
    ['a fingerprint that is not 16 hex characters', (o) => o.listJobs({ fingerprint: 'abc' }), 'INVALID_OPTION', /fingerprint must be 16 lowercase hex/],
    ['an empty key', (o) => o.listJobs({ key: '' }), 'INVALID_OPTION', /key must be a non-empty string/],
    ['a misspelt option of listJobs', (o) => o.listJobs({ fingerprnt: '0123456789abcdef' } as object), 'UNKNOWN_OPTION', /did you mean 'fingerprint'\?/],
    ['a misspelt option of listFailureGroups', (o) => o.listFailureGroups({ limt: 5 } as object), 'UNKNOWN_OPTION', /did you mean 'limit'\?/],
    ['a limit over 1000', (o) => o.listFailureGroups({ limit: 1001 }), 'INVALID_OPTION', /limit must be an integer from 1 to 1000/],
    ['a bad queue name', (o) => o.listFailureGroups({ queue: 'no spaces' }), 'INVALID_NAME', /queue name "no spaces" is not valid/],
    ['retrying a group by a bad fingerprint', (o) => o.retryFailureGroup('0123456789ABCDEF'), 'INVALID_OPTION', /fingerprint must be 16 lowercase hex/],
    ['a misspelt option of retryFailureGroup', (o) => o.retryFailureGroup('0123456789abcdef', { tsak: 'x' } as object), 'UNKNOWN_OPTION', /did you mean 'task'\?/],
    ['a misspelt option of listWorkers', (o) => o.listWorkers({ aliveWithn: '1s' } as object), 'UNKNOWN_OPTION', /did you mean 'aliveWithin'\?/],
    ['a bad aliveWithin', (o) => o.listWorkers({ aliveWithin: 'soon' }), 'INVALID_OPTION', /aliveWithin must be a duration/],
  ]
  for (const [name, attempt, code, message] of cases) {
    test(name, async () => {
      newStore = STORE_KINDS[0]![1]
      await expectRejected(() => attempt(setup()), code, message)
    })
  }
})
