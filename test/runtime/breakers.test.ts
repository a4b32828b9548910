import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, type BreakerTransition, type Logger, type Offload } from '../../src/index.js'
import { uuidv7 } from '../../src/ids.js'
import { eventually } from '../support/eventually.js'
import { STORE_KINDS } from '../support/stores.js'

/**
 * A downstream service that is down until told otherwise: every call fails while `failing`. It
 * counts calls, so the test can tell which jobs reached it and when.
 */
class FlakyDownstream {
  calls = 0
  failing = true

  call(): string {
    this.calls++
    if (this.failing) throw new Error('downstream unavailable (503)')
    return 'ok'
  }
}

/** A logger that resolves promises on circuit-breaker news: the test waits on these, never on time. */
class BreakerWatch implements Logger {
  readonly transitions: BreakerTransition[] = []
  private waiters: { match: (t: BreakerTransition) => boolean; count: number; resolve: () => void }[] = []
  probes = 0
  callsAtFirstProbe: number | undefined

  constructor(private readonly downstream: FlakyDownstream) {}

  debug(): void {}
  info(message: string, context?: Record<string, unknown>): void {
    if (message.includes('runs as a probe')) {
      this.probes++
      this.callsAtFirstProbe ??= this.downstream.calls
    }
    if (context?.to !== undefined) this.transition(context as unknown as BreakerTransition)
  }
  warn(_message: string, context?: Record<string, unknown>): void {
    if (context?.to !== undefined) this.transition(context as unknown as BreakerTransition)
  }
  error(message: string, context?: Record<string, unknown>): void {
    throw new Error(`unexpected error log: ${message} ${JSON.stringify(context)}`)
  }

  /** Resolves once the `count`-th transition to `to` has been logged. */
  reached(to: BreakerTransition['to'], count = 1): Promise<void> {
    const match = (t: BreakerTransition): boolean => t.to === to
    if (this.transitions.filter(match).length >= count) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ match, count, resolve }))
  }

  private transition(transition: BreakerTransition): void {
    this.transitions.push(transition)
    for (const waiter of [...this.waiters]) {
      if (this.transitions.filter(waiter.match).length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }
}

const instances: Offload[] = []
afterEach(async () => {
  await Promise.all(instances.splice(0).map((instance) => instance.close()))
})

describe.each(STORE_KINDS)('circuit breaker with a flaky downstream (%s)', (_kind, newStore) => {
  test('opens on failures, keeps the backlog queued through the cooldown, re-opens on a failed probe and closes on a good one', async () => {
    const downstream = new FlakyDownstream()
    const watch = new BreakerWatch(downstream)
    const offload = createOffload({ store: newStore(), logger: watch })
    instances.push(offload)
    const COOLDOWN_MS = 1000
    const charge = offload.task('payments.charge', {
      // Enough that no job runs out while the breaker is tested: only failures spend attempts here.
      attempts: 6,
      backoff: { type: 'fixed', delay: 10 },
      breaker: { threshold: 0.5, minVolume: 4, window: '1m', cooldown: COOLDOWN_MS, probes: 1 },
      run: () => downstream.call(),
    })
    await offload.work({ handleSignals: false, concurrency: 1, maintenance: true, pollInterval: '100ms' })

    // The downstream is down: four attempts fail (each job retries, which only adds failures).
    const first = await charge.enqueueMany(Array.from({ length: 4 }, () => ({ payload: undefined })))
    await watch.reached('open')
    const opened = watch.transitions[0]!
    expect(opened).toMatchObject({ task: 'payments.charge', from: 'closed', to: 'open' })
    const [info] = await offload.listBreakers()
    expect(info).toMatchObject({ task: 'payments.charge', state: 'open', cooldownUntil: new Date(opened.at.getTime() + COOLDOWN_MS) })
    const callsAtOpen = downstream.calls

    // The backlog arrives while it is open.
    const backlog = await charge.enqueueMany(Array.from({ length: 6 }, () => ({ payload: undefined })))

    // The cooldown ends, one probe runs — nothing reached the downstream before it — and fails: open again.
    await watch.reached('open', 2)
    expect(watch.callsAtFirstProbe).toBe(callsAtOpen)
    // (The move to half-open happens as a probe is admitted; the worker reports the probe.)
    expect(watch.transitions.map((t) => `${t.from} → ${t.to}`)).toEqual(['closed → open', 'half_open → open'])
    // The downstream recovers; after the next cooldown a probe succeeds and closes the breaker.
    downstream.failing = false
    await watch.reached('closed')
    const finished = await Promise.all([...first, ...backlog].map((handle) => offload.waitForJob(handle.id, { timeout: '20s' })))
    expect(finished.map((job) => job.state)).toEqual(Array(10).fill('completed'))
    expect(watch.transitions.map((t) => `${t.from} → ${t.to}`)).toEqual(['closed → open', 'half_open → open', 'half_open → closed'])
    expect(watch.probes).toBe(2)

    // No job was failed by the breaker, and none spent an attempt without reaching the downstream:
    // every attempt is one call (the failures that opened it, the failed probe, ten successes).
    expect(downstream.calls).toBe(callsAtOpen + 1 + 10)
    expect(finished.reduce((sum, job) => sum + job.attempt, 0)).toBe(downstream.calls)
    const backlogJobs = finished.slice(4)
    // No backlog job ran before the first cooldown ended (event times are the store's clock): one
    // claimed in the moment before the worker heard of the opening was handed back at once.
    const cooldownEnd = opened.at.getTime() + COOLDOWN_MS
    for (const job of backlogJobs) {
      const events = await offload.jobEvents(job.id)
      events.forEach((event, index) => {
        if (event.type === 'started' && event.at.getTime() < cooldownEnd) expect(events[index + 1]?.type).toBe('released')
      })
      expect(events.some((event) => event.type === 'failed')).toBe(false)
    }
    const [closed] = await offload.listBreakers()
    expect(closed).toMatchObject({ state: 'closed', transitions: { open: 2, half_open: 2, closed: 1 } })
  }, 30_000)
})

describe.each(STORE_KINDS)('per-group circuit breakers (%s)', (_kind, newStore) => {
  test("one group's failing downstream opens its breaker and holds back only its jobs; a reset of that group lets them run", async () => {
    const down = new Set(['acme'])
    const calls: string[] = []
    const watch = new BreakerWatch(new FlakyDownstream())
    const offload = createOffload({ store: newStore(), logger: watch })
    instances.push(offload)
    offload.task('notify', {
      attempts: 1,
      breaker: { perGroup: true, minVolume: 3, cooldown: '1h' },
      run: (input: { group: string }) => {
        calls.push(input.group)
        if (down.has(input.group)) throw new Error(`${input.group}'s endpoint answered 502`)
      },
    })
    // The enqueue option `group` is the store's JobInsert.group; written here through the store.
    const insert = async (group: string, count: number): Promise<string[]> => {
      const jobs = Array.from({ length: count }, () => ({
        id: uuidv7(), task: 'notify', queue: 'default', payload: JSON.stringify({ group }), priority: 0, maxAttempts: 1, group,
      }))
      await offload.migrate()
      await offload.store.jobInsertMany({ jobs })
      return jobs.map((job) => job.id)
    }
    await offload.work({ handleSignals: false, concurrency: 1, pollInterval: '100ms' })
    await insert('acme', 3)
    await watch.reached('open')
    expect(watch.transitions[0]).toMatchObject({ task: 'notify', group: 'acme', from: 'closed', to: 'open' })

    // acme's next jobs go in first; globex's, behind them, run all the same.
    const heldBack = await insert('acme', 3)
    const others = await insert('globex', 3)
    const done = await Promise.all(others.map((id) => offload.waitForJob(id, { timeout: '20s' })))
    expect(done.map((job) => job.state)).toEqual(['completed', 'completed', 'completed'])
    for (const id of heldBack) {
      expect(await offload.getJob(id)).toMatchObject({ state: 'queued', attempt: 0 })
      // Never claimed: the claims passed over them.
      expect((await offload.jobEvents(id)).map((event) => event.type)).toEqual(['enqueued'])
    }
    expect(calls.filter((group) => group === 'acme')).toHaveLength(3)
    // globex's outcomes are written in a batch of their own, after its jobs completed.
    await eventually(async () => (await offload.listBreakers()).some((info) => info.group === 'globex'), "globex's breaker recorded")
    expect((await offload.listBreakers()).map((info) => [info.group, info.state])).toEqual([
      ['acme', 'open'],
      ['globex', 'closed'],
    ])

    down.delete('acme')
    expect(await offload.resetBreaker('notify', { group: 'acme' })).toEqual({ reset: 1 })
    const released = await Promise.all(heldBack.map((id) => offload.waitForJob(id, { timeout: '20s' })))
    expect(released.map((job) => [job.state, job.attempt])).toEqual(Array(3).fill(['completed', 1]))
  }, 30_000)
})

describe.each(STORE_KINDS)('a worker starting while a breaker is open (%s)', (_kind, newStore) => {
  test('never claims the jobs it holds back, even ahead of others in the queue, from its first claim', async () => {
    const offload = createOffload({ store: newStore(), logger: false })
    instances.push(offload)
    const breaker = { threshold: 0.5, minVolume: 2, window: '1m', cooldown: '1h' } as const
    const charge = offload.task('charge', { breaker, run: () => 'charged' })
    const greet = offload.task('greet', { run: () => 'hello' })
    // Opened by workers before this one: two failures recorded as theirs would be.
    await offload.migrate()
    const settings = new Map([['charge', { threshold: 0.5, minVolume: 2, windowMs: 60_000, cooldownMs: 3_600_000, probes: 1 }]])
    await offload.store.breakerRecord({ outcomes: [{ task: 'charge', failed: true }, { task: 'charge', failed: true }], settings })
    const held = await charge.enqueue(undefined)
    const other = await greet.enqueue(undefined)
    await offload.work({ handleSignals: false, concurrency: 1 })
    expect(await other.result({ timeout: '20s' })).toBe('hello')
    expect(await offload.getJob(held.id)).toMatchObject({ state: 'queued', attempt: 0 })
    expect((await offload.jobEvents(held.id)).map((event) => event.type)).toEqual(['enqueued'])
  })
})

describe('breaker options and resets', () => {
  test('a task’s breaker options are checked when it is defined, with a did-you-mean; true takes the defaults', () => {
    const offload = createOffload({ store: 'sqlite::memory:', logger: false })
    instances.push(offload)
    const run = (): void => {}
    expect(offload.task('a', { run, breaker: true }).definition.breaker).toEqual({
      threshold: 0.5, minVolume: 10, windowMs: 60_000, cooldownMs: 30_000, probes: 1, perGroup: false,
    })
    expect(() => offload.task('b', { run, breaker: { thresold: 0.2 } as never })).toThrow(/unknown option 'thresold' in task 'b' breaker, did you mean 'threshold'\?/)
    expect(() => offload.task('c', { run, breaker: { threshold: 1.5 } })).toThrow(/breaker.threshold must be a number from 0 to 1, got 1.5/)
    expect(() => offload.task('d', { run, breaker: { cooldown: '0s' } })).toThrow(/breaker.cooldown must be longer than 0 ms/)
    expect(() => offload.task('e', { run, breaker: { probes: 0 } })).toThrow(/breaker.probes must be an integer/)
    expect(() => offload.task('f', { run, breaker: 'yes' as never })).toThrow(/breaker must be an object/)
  })

  test('resetBreaker refuses bad input and a breaker that never recorded anything, and writes nothing', async () => {
    const offload = createOffload({ store: 'sqlite::memory:', logger: false })
    instances.push(offload)
    await expect(offload.resetBreaker('nothing.here')).rejects.toMatchObject({ code: 'BREAKER_NOT_FOUND', details: { task: 'nothing.here', group: null } })
    await expect(offload.resetBreaker('bad name')).rejects.toMatchObject({ code: 'INVALID_NAME' })
    await expect(offload.resetBreaker('t', { grop: 'x' } as never)).rejects.toMatchObject({ code: 'UNKNOWN_OPTION', details: { suggestion: 'group' } })
    await expect(offload.resetBreaker('t', { group: '' })).rejects.toMatchObject({ code: 'INVALID_OPTION' })
    expect(await offload.listBreakers()).toEqual([])
  })
})
