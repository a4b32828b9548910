import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import {
  createOffload,
  JobAbortError,
  PermanentError,
  SnoozeError,
  type JobContext,
  type Offload,
  type OffloadConfig,
  type Store,
  type WorkOptions,
} from '../../src/index.js'
import { openStore } from '../../src/store/open-store.js'
import { STORE_KINDS } from '../support/stores.js'
import { tempDb } from '../support/temp.js'

let offload: Offload | undefined

afterEach(async () => {
  await offload?.close({ grace: 0 })
  offload = undefined
})

let newStore: () => string = () => {
  throw new Error('setup() runs inside a describe.each(STORE_KINDS) block')
}

/** The URL of the store the last setup() made, for a second instance on it. */
let storeUrl = ''

function setup(config: OffloadConfig = {}): Offload {
  storeUrl = newStore()
  offload = createOffload({ store: storeUrl, logger: false, ...config })
  return offload
}

function work(options: WorkOptions = {}) {
  return offload!.work({ handleSignals: false, ...options })
}

/** A promise with its resolver, for handlers that report to the test. */
function signal<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

function waitForAbort(ctx: JobContext<unknown>): Promise<JobAbortError> {
  return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason as JobAbortError), { once: true }))
}

async function eventTypes(id: string): Promise<string[]> {
  return (await offload!.jobEvents(id)).map((event) => event.type)
}

describe.each(STORE_KINDS)('%s store', (_name, storeOfKind) => {
  beforeEach(() => {
    newStore = storeOfKind
  })

  test('progress and log lines are stored with the job and in its event log', async () => {
    const o = setup()
    const task = o.task('report', {
      async run(_: void, ctx) {
        await ctx.progress(25)
        await ctx.log('halfway there')
        await ctx.progress({ done: 3, of: 4 })
        return 'ok'
      },
    })
    await work()
    const job = await task.enqueue()
    expect(await job.result({ timeout: '10s' })).toBe('ok')
    const info = await job.get()
    expect(info.progress).toEqual({ done: 3, of: 4 })
    const events = await o.jobEvents(job.id)
    expect(events.map((event) => [event.type, event.data ?? null])).toEqual([
      ['enqueued', null],
      ['started', { workerId: expect.any(String) }],
      ['progress', { progress: 25 }],
      ['log', { message: 'halfway there' }],
      ['progress', { progress: { done: 3, of: 4 } }],
      ['completed', null],
    ])
  })

  test('a failed attempt retries after the task backoff; the error of each attempt is stored', async () => {
    const o = setup()
    let calls = 0
    const task = o.task('flaky', {
      attempts: 3,
      backoff: { type: 'fixed', delay: '150ms' },
      run() {
        calls++
        if (calls < 3) throw new Error(`failure ${calls}`)
        return calls
      },
    })
    await work({ pollInterval: '1h' })
    const job = await task.enqueue()
    expect(await job.result({ timeout: '10s' })).toBe(3)
    const info = await job.get()
    expect(info.attempt).toBe(3)
    expect(info.errors.map((error) => [error.attempt, error.message])).toEqual([
      [1, 'failure 1'],
      [2, 'failure 2'],
    ])
    expect(info.errors[0]!.stack).toContain('failure 1')
    const events = await o.jobEvents(job.id)
    expect(events.map((event) => event.type)).toEqual([
      'enqueued', 'started', 'retrying', 'promoted', 'started', 'retrying', 'promoted', 'started', 'completed',
    ])
    for (const retrying of events.filter((event) => event.type === 'retrying')) {
      // Fixed backoff without jitter: due exactly 150 ms after the failure.
      expect(Date.parse(retrying.data!.runAt as string) - retrying.at.getTime()).toBe(150)
    }
  })

  test('per-job backoff overrides the task; a backoff function sees the attempt and the error', async () => {
    const o = setup()
    const seen: [number, string][] = []
    const task = o.task('shaky', {
      attempts: 2,
      backoff: (attempt, error) => {
        seen.push([attempt, (error as Error).message])
        return attempt * 40
      },
      run(input: { fail: boolean }, ctx) {
        if (ctx.attempt === 1) throw new Error('first try')
        return input.fail
      },
    })
    await work()
    const byFunction = await task.enqueue({ fail: false })
    const byJob = await task.enqueue({ fail: false }, { backoff: { type: 'fixed', delay: 120 } })
    await Promise.all([byFunction.result({ timeout: '10s' }), byJob.result({ timeout: '10s' })])
    expect(seen).toEqual([[1, 'first try']])
    const delays = async (id: string) =>
      (await o.jobEvents(id)).filter((e) => e.type === 'retrying').map((e) => Date.parse(e.data!.runAt as string) - e.at.getTime())
    expect(await delays(byFunction.id)).toEqual([40])
    expect(await delays(byJob.id)).toEqual([120])
  })

  test('PermanentError fails the job at once, whatever attempts are left', async () => {
    const o = setup()
    const task = o.task('strict', {
      attempts: 5,
      run() {
        throw new PermanentError('bad input, retrying will not help')
      },
    })
    await work()
    const job = await task.enqueue()
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({
      code: 'JOB_FAILED',
      details: { error: { name: 'PermanentError', message: 'bad input, retrying will not help' } },
    })
    expect(await job.get()).toMatchObject({ state: 'failed', attempt: 1 })
  })

  test('SnoozeError runs the job again later without spending an attempt', async () => {
    const o = setup()
    const attempts: number[] = []
    const task = o.task('patient', {
      attempts: 1,
      run(_: void, ctx) {
        attempts.push(ctx.attempt)
        if (attempts.length === 1) throw new SnoozeError('100ms')
        return 'ready now'
      },
    })
    await work()
    const job = await task.enqueue()
    expect(await job.result({ timeout: '10s' })).toBe('ready now')
    expect(attempts).toEqual([1, 1])
    expect(await eventTypes(job.id)).toEqual(['enqueued', 'started', 'snoozed', 'promoted', 'started', 'completed'])
  })

  test('a timeout aborts the handler signal and fails the attempt', async () => {
    const o = setup()
    const reasons: JobAbortError[] = []
    const task = o.task('slow', {
      attempts: 1,
      timeout: '100ms',
      async run(_: void, ctx) {
        reasons.push(await waitForAbort(ctx))
        return 'too late'
      },
    })
    await work()
    const job = await task.enqueue()
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED', message: expect.stringContaining('timed out after 100 ms') })
    expect(reasons.map((reason) => reason.kind)).toEqual(['timeout'])
    expect((await job.get()).errors[0]).toMatchObject({ name: 'JobAbortError', attempt: 1 })
  })

  test('cancelling a running job aborts its handler and rejects result() with JOB_CANCELLED', async () => {
    const o = setup()
    const started = signal()
    const aborted = signal<JobAbortError>()
    const task = o.task('long', {
      async run(_: void, ctx) {
        started.resolve()
        aborted.resolve(await waitForAbort(ctx))
        return 'ignored'
      },
    })
    await work()
    const job = await task.enqueue()
    await started.promise
    const waiting = job.result({ timeout: '10s' })
    expect(await job.cancel()).toMatchObject({ state: 'cancelled' })
    expect((await aborted.promise).kind).toBe('cancelled')
    await expect(waiting).rejects.toMatchObject({ code: 'JOB_CANCELLED' })
    // The handler returned after the cancel; its outcome must not overwrite the cancellation.
    await o.close()
    offload = createOffload({ store: storeUrl, logger: false })
    expect(await offload.getJob(job.id)).toMatchObject({ state: 'cancelled' })
    expect((await offload.jobEvents(job.id)).map((event) => event.type)).toEqual(['enqueued', 'started', 'cancelled'])
  })

  test('a stopping worker lets running jobs finish within the grace period', async () => {
    const o = setup()
    const started = signal()
    const release = signal()
    const task = o.task('finishing', {
      async run() {
        started.resolve()
        await release.promise
        return 'done'
      },
    })
    const worker = await work({ shutdownGrace: '30s' })
    const job = await task.enqueue()
    await started.promise
    const stopping = worker.stop()
    release.resolve()
    await stopping
    expect(await job.get()).toMatchObject({ state: 'completed', result: 'done' })
  })

  test('a worker never runs more jobs at once than its concurrency', async () => {
    const o = setup()
    let running = 0
    let peak = 0
    const task = o.task('counted', {
      async run() {
        running++
        peak = Math.max(peak, running)
        await new Promise((resolve) => setTimeout(resolve, 5))
        running--
      },
    })
    await work({ concurrency: 3 })
    const jobs = await task.enqueueMany(Array.from({ length: 30 }, () => ({ payload: undefined })))
    await Promise.all(jobs.map((job) => job.result({ timeout: '20s' })))
    expect(peak).toBe(3)
  })

  test('priority decides the order among ready jobs', async () => {
    const o = setup()
    const order: string[] = []
    const task = o.task('ordered', { run: (name: string) => void order.push(name) })
    await o.enqueueMany([
      { task: 'ordered', payload: 'low', options: { priority: -5 } },
      { task: 'ordered', payload: 'normal-1' },
      { task: 'ordered', payload: 'high', options: { priority: 10 } },
      { task: 'ordered', payload: 'normal-2' },
    ])
    await work({ concurrency: 1 })
    const last = await task.enqueue('last', { priority: -10 })
    await last.result({ timeout: '10s' })
    expect(order).toEqual(['high', 'normal-1', 'normal-2', 'low', 'last'])
  })

  test('a delayed job is promoted by the timer set for its run time, not by a poll', async () => {
    const o = setup({ maintenance: { promoteInterval: '1h' } })
    const task = o.task('later', { run: () => Date.now() })
    await work({ pollInterval: '1h' })
    const enqueuedAt = Date.now()
    const job = await task.enqueue(undefined, { delay: '200ms' })
    expect(job.state).toBe('scheduled')
    const ranAt = (await job.result({ timeout: '10s' })) as number
    expect(ranAt - enqueuedAt).toBeGreaterThanOrEqual(200)
    expect(await eventTypes(job.id)).toEqual(['enqueued', 'promoted', 'started', 'completed'])
  })

  test('a job enqueued in this process wakes an idle worker without a poll', async () => {
    const o = setup()
    const task = o.task('instant', { run: (n: number) => n * 2 })
    await work({ pollInterval: '1h' })
    for (let n = 1; n <= 3; n++) expect(await (await task.enqueue(n)).result({ timeout: '10s' })).toBe(n * 2)
  })

  test('a job of a task this worker does not define fails its attempt and is retried', async () => {
    const o = setup()
    const shared = o.task('known', { run: () => 'fine' })
    // Another process defined this task on the same queue; this worker cannot run it.
    const producer = createOffload({ store: storeUrl, logger: false })
    producer.task('stranger', { queue: shared.queue, attempts: 1, run: () => 'never here' })
    try {
      const job = await producer.enqueue('stranger', {})
      await work()
      await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({
        code: 'JOB_FAILED',
        details: { error: { name: 'OffloadError', message: expect.stringContaining("task 'stranger' is not defined") } },
      })
    } finally {
      await producer.close()
    }
  })

  test('a result JSON cannot carry fails the job without retries', async () => {
    const o = setup()
    const task = o.task('bigint', { attempts: 3, run: () => ({ n: 10n }) as unknown as object })
    await work()
    const job = await task.enqueue()
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED', message: expect.stringContaining('BigInt') })
    expect(await job.get()).toMatchObject({ attempt: 1, state: 'failed' })
  })

  test('result() gives up on its timeout or signal without touching the job', async () => {
    const o = setup()
    const task = o.task('unworked', { run: () => 1 })
    const job = await task.enqueue()
    await expect(job.result({ timeout: '50ms' })).rejects.toMatchObject({ code: 'TIMEOUT' })
    const controller = new AbortController()
    const waiting = job.result({ signal: controller.signal })
    controller.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' })
    expect(await job.get()).toMatchObject({ state: 'queued' })
  })

  test('retrying a failed job by id runs it again with a fresh set of attempts', async () => {
    const o = setup()
    let fail = true
    const task = o.task('second-chance', {
      attempts: 1,
      run() {
        if (fail) throw new Error('not yet')
        return 'now it works'
      },
    })
    await work()
    const job = await task.enqueue()
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED' })
    fail = false
    expect(await o.retryJob(job.id)).toMatchObject({ state: 'queued', attempt: 0 })
    expect(await job.result({ timeout: '10s' })).toBe('now it works')
    expect(await eventTypes(job.id)).toEqual(['enqueued', 'started', 'failed', 'retried', 'started', 'completed'])
  })

  test('an abort signal given to work() stops the worker gracefully', async () => {
    const o = setup()
    o.task('idle', { run: () => undefined })
    const controller = new AbortController()
    const worker = await work({ signal: controller.signal })
    controller.abort()
    await worker.done
    expect(worker.stopped).toBe(true)
  })

  test('a handler that looks at its signal only after the abort sees it aborted, with the reason', async () => {
    const o = setup()
    const seen = signal<{ aborted: boolean; kind: string | undefined }>()
    const started = signal()
    const cancelled = signal()
    const task = o.task('late-look', {
      async run(_: void, ctx) {
        started.resolve()
        await cancelled.promise
        seen.resolve({ aborted: ctx.signal.aborted, kind: (ctx.signal.reason as JobAbortError | undefined)?.kind })
      },
    })
    await work()
    const job = await task.enqueue()
    await started.promise
    await o.cancelJob(job.id)
    // The cancel reached the worker before the handler first touched ctx.signal.
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_CANCELLED' })
    cancelled.resolve()
    expect(await seen.promise).toEqual({ aborted: true, kind: 'cancelled' })
  })

  test('errors from another copy of Offload still steer the job (recognised by brand, not instanceof)', async () => {
    const o = setup()
    // What a PermanentError made by a second installed copy of the package looks like here.
    const foreign = Object.assign(new Error('bad input'), { name: 'PermanentError', [Symbol.for('offload.error')]: 'PermanentError' })
    const task = o.task('foreign', {
      attempts: 3,
      run() {
        throw foreign
      },
    })
    await work()
    const job = await task.enqueue()
    await expect(job.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED' })
    expect(await job.get()).toMatchObject({ state: 'failed', attempt: 1 })
  })
})

/** `store` with every claim counted: how many jobs it handed out so far. */
function countingClaims(store: Store): { store: Store; claimed: () => number } {
  let claimed = 0
  const counting = Object.create(store, {
    jobClaim: {
      value: async (params: Parameters<Store['jobClaim']>[0]) => {
        const jobs = await store.jobClaim(params)
        claimed += jobs.length
        return jobs
      },
    },
  }) as Store
  return { store: counting, claimed: () => claimed }
}

test('while outcomes cannot be written, a worker starts no job beyond concurrency + prefetch of them', async () => {
  const store = openStore(`sqlite:${tempDb()}`)
  let release!: () => void
  const writable = new Promise<void>((resolve) => (release = resolve))
  const counted = countingClaims(store)
  // The store stalls every outcome write until released, as a slow or unreachable database would.
  const stalling = Object.create(counted.store, {
    jobFinishMany: { value: async (params: Parameters<typeof store.jobFinishMany>[0]) => (await writable, store.jobFinishMany(params)) },
  }) as typeof store
  offload = createOffload({ store: stalling, logger: false })
  let ran = 0
  const task = offload.task('quick', { run: async () => void ran++ })
  const handles = await task.enqueueMany(Array.from({ length: 20 }, () => ({ payload: undefined })))
  try {
    await offload.work({ concurrency: 2, prefetch: 2, handleSignals: false, pollInterval: '1h' })
    // Four outcomes may wait (concurrency + prefetch), two more run meanwhile, then nothing starts;
    // at most `prefetch` more are held claimed.
    while (ran < 6) await new Promise((resolve) => setTimeout(resolve, 5))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(ran).toBe(6)
    expect(counted.claimed() - ran).toBeLessThanOrEqual(2)
  } finally {
    release()
  }
  await Promise.all(handles.map((handle) => handle.result({ timeout: '10s' })))
  expect(ran).toBe(20)
  await offload.close({ grace: 0 })
  offload = undefined
  await store.close()
})

describe.each(STORE_KINDS)('claiming ahead, %s store', (_name, storeOfKind) => {
  beforeEach(() => {
    newStore = storeOfKind
  })

  test('fast handlers: jobs are claimed ahead of the free slot, and handed back unspent when the worker stops', async () => {
    const instance = setup()
    let ran = 0
    let unblock!: () => void
    const blocked = new Promise<void>((resolve) => (unblock = resolve))
    const task = instance.task('fast', {
      run: async (_payload: undefined, ctx: JobContext) => {
        // The 30th job holds the only slot until the worker stops.
        if (++ran === 30) await Promise.race([blocked, new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))])
      },
    })
    const handles = await task.enqueueMany(Array.from({ length: 60 }, () => ({ payload: undefined })))
    const worker = await instance.work({ concurrency: 1, prefetch: 5, handleSignals: false, pollInterval: '1h', maintenance: false })
    while (ran < 30) await new Promise((resolve) => setTimeout(resolve, 5))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(ran).toBe(30)
    const running = (await instance.listJobs({ state: 'running', limit: 100 })).jobs
    // The blocked job and the ones claimed ahead of it, no more than `prefetch` of those.
    expect(running.length).toBeGreaterThan(1)
    expect(running.length).toBeLessThanOrEqual(6)
    await worker.stop({ graceMs: 0 })
    unblock()
    for (const job of running) {
      const after = await instance.getJob(job.id)
      expect(after?.state).toBe('queued')
      // Handed back without spending the attempt the claim took.
      expect(after?.attempt).toBe(0)
    }
    expect((await instance.listJobs({ state: 'running' })).jobs).toHaveLength(0)
    expect(handles).toHaveLength(60)
  })

  test('slow handlers: nothing is claimed ahead', async () => {
    const store = openStore(newStore())
    const counted = countingClaims(store)
    offload = createOffload({ store: counted.store, logger: false })
    let started = 0
    const task = offload.task('slow', { run: async () => void (started++, await new Promise((resolve) => setTimeout(resolve, 100))) })
    await task.enqueueMany(Array.from({ length: 10 }, () => ({ payload: undefined })))
    await offload.work({ concurrency: 2, prefetch: 50, handleSignals: false, pollInterval: '1h', maintenance: false })
    // Once the first jobs finished (an estimate exists), every job claimed is a job running.
    while (started < 5) await new Promise((resolve) => setTimeout(resolve, 5))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(counted.claimed()).toBe(started)
    await offload.close({ grace: 0 })
    offload = undefined
    await store.close()
  })

})
