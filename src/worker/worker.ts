import { hostname } from 'node:os'
import { performance } from 'node:perf_hooks'
import { backoffDelay, DEFAULT_BACKOFF } from '../backoff.js'
import { isOffloadError, isPermanentError, isSnoozeError, JobAbortError, OffloadError, type AbortKind } from '../errors.js'
import { randomId } from '../ids.js'
import { toJson } from '../json.js'
import type { Json } from '../job.js'
import type { Logger } from '../logger.js'
import type { ClaimedJob, FinishError, JobFinish, JobNote, QueueLimits, Store, StoreNote } from '../store/store.js'
import type { JobContext, TaskDefinition } from '../task.js'
import { Batcher } from './batcher.js'
import { WorkerBreakers } from './breakers.js'

/** Resolved worker settings, in milliseconds. See `WorkOptions` in offload.ts for the documentation. */
export interface WorkerSettings {
  id: string
  queues: readonly string[]
  concurrency: number
  batchSize: number
  /** Most jobs claimed ahead of free slots; 0 turns claiming ahead off. */
  prefetch: number
  leaseMs: number
  heartbeatMs: number
  pollMs: number
  shutdownGraceMs: number
  /** Flow-control limits of queues, as every process working them has them. */
  limits?: ReadonlyMap<string, QueueLimits>
}

interface Execution {
  job: ClaimedJob
  /** `performance.now()` when the handler was called. */
  startedAt: number
  /** Made on first use of `ctx.signal`: most handlers never look at it, and each costs ~1 µs. */
  controller: AbortController | undefined
  /** Why the job was aborted, kept for a signal made after the abort. */
  reason: JobAbortError | undefined
  timer: NodeJS.Timeout | undefined
  /** Set once the outcome is decided (settled, timed out, aborted): later settlements are ignored. */
  done: boolean
}

/** The `ctx` a handler gets: one small object per job, its methods on the prototype. */
class HandlerContext implements JobContext {
  readonly payload: unknown
  readonly jobId: string
  readonly task: string
  readonly queue: string
  readonly attempt: number
  readonly maxAttempts: number
  readonly metadata: Record<string, Json>
  readonly #execution: Execution
  readonly #notes: Batcher<JobNote>

  constructor(execution: Execution, notes: Batcher<JobNote>) {
    const { job } = execution
    this.payload = job.payload
    this.jobId = job.id
    this.task = job.task
    this.queue = job.queue
    this.attempt = job.attempt
    this.maxAttempts = job.maxAttempts
    this.metadata = job.metadata
    this.#execution = execution
    this.#notes = notes
  }

  get signal(): AbortSignal {
    const execution = this.#execution
    if (execution.controller === undefined) {
      execution.controller = new AbortController()
      if (execution.reason !== undefined) execution.controller.abort(execution.reason)
    }
    return execution.controller.signal
  }

  progress(value: Json): Promise<void> {
    return this.#note({ progress: toJson(value, 'progress') })
  }

  log(message: string): Promise<void> {
    return this.#note({ log: String(message) })
  }

  #note(fields: { progress?: string; log?: string }): Promise<void> {
    const { job, done } = this.#execution
    return done ? Promise.resolve() : this.#notes.push({ id: job.id, lease: job.lease, ...fields })
  }
}

export function defaultWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomId('w').slice(2)}`
}

/**
 * The longest a worker goes between two registry beats (`workerBeat`), whatever its heartbeat
 * interval: it beats on that interval, or this one if the interval is longer. So every worker
 * beats often enough for one default of `WORKER_ALIVE_MS`, however its leases are set.
 */
export const WORKER_BEAT_MAX_MS = 5000
/** How long after its last beat a worker counts as alive in `listWorkers`: three missed beats. */
export const WORKER_ALIVE_MS = 3 * WORKER_BEAT_MAX_MS

/**
 * Claims jobs from its queues and runs them, `concurrency` at a time.
 *
 * The loop is driven by events, not a timer: a finished job, a store note (a job became ready
 * here or in another process) or the fallback poll asks for a claim, and requests coalesce so one
 * claim fetches as many jobs as there are free slots — plus, for handlers faster than a claim's
 * round trip, a few claimed ahead (`aheadTarget`). Outcomes and progress go through batchers, so
 * with many jobs finishing together they cost one store round trip.
 */
export class Worker {
  readonly id: string
  /** Resolves when the worker has stopped and handed back or finished every job it held. */
  readonly done: Promise<void>
  /** Resolves once the worker's first registry beat is written (or has failed: beats never stop a worker). */
  readonly registered: Promise<void>
  private readonly executions = new Map<string, Execution>()
  /** Jobs claimed ahead, in claim order, waiting for a slot; their leases are held and renewed. */
  private readonly ahead = new Map<string, ClaimedJob>()
  /** Leases held: jobs claimed ahead, running jobs and jobs whose outcome is not yet written. Heartbeats cover all. */
  private readonly leases = new Map<string, number>()
  /** Moving averages, ms: a handler's run (call → settle) and a claim's round trip. */
  private runMs: number | undefined
  private claimMs: number | undefined
  private readonly finishes: Batcher<JobFinish>
  private readonly notes: Batcher<JobNote>
  /** Circuit breakers of the tasks that have one; undefined (and free) when none has. */
  private readonly breakers: WorkerBreakers | undefined
  private readonly unlisten: () => void
  private readonly pollTimer: NodeJS.Timeout
  private readonly heartbeatTimer: NodeJS.Timeout
  private readonly beatTimer: NodeJS.Timeout
  /** The registry beat under way, if any: one at a time, and a stop waits for it before it removes the worker. */
  private beating: Promise<void> | undefined
  private readonly startedAt = Date.now()
  private readonly host = hostname()
  private claimScheduled = false
  private claiming = false
  private claimAgain = false
  private claimRetryTimer: NodeJS.Timeout | undefined
  private claimFailures = 0
  /** Wakes the claim loop when the next rate window of a rate-limited queue opens. */
  private rateTimer: NodeJS.Timeout | undefined
  /** The shortest rate window of this worker's queues, ms; undefined when none is rate-limited. */
  private readonly rateWindowMs: number | undefined
  /** Whether a queue of this worker caps running jobs: a finish anywhere may make room. */
  private readonly capsRunning: boolean
  /**
   * The last claim of a worker on capped queues came back short: the caps (or the backlog) are
   * what limits it, so a job finishing here frees nothing the store can see before its outcome is
   * written, and only then is a claim worth its round trips.
   */
  private claimsAwaitOutcomes = false
  private stopping: Promise<void> | undefined
  private resolveDone!: () => void
  private idleWaiters: (() => void)[] = []
  /** Cuts a shutdown's grace period short (a second signal). */
  private endGrace: (() => void) | undefined

  constructor(
    private readonly store: Store,
    private readonly tasks: ReadonlyMap<string, TaskDefinition<unknown, unknown>>,
    private readonly settings: WorkerSettings,
    private readonly logger: Logger,
  ) {
    this.id = settings.id
    this.done = new Promise((resolve) => (this.resolveDone = resolve))
    const limits = settings.queues.map((queue) => settings.limits?.get(queue)).filter((limit) => limit !== undefined)
    const windows = limits.flatMap((limit) => (limit.rate === undefined ? [] : [limit.rate.intervalMs]))
    this.rateWindowMs = windows.length === 0 ? undefined : Math.min(...windows)
    this.capsRunning = limits.some((limit) => limit.concurrency !== undefined || limit.groupConcurrency !== undefined)
    this.finishes = new Batcher((finishes) => this.writeFinishes(finishes), logger, 'job outcomes')
    this.notes = new Batcher((notes) => store.jobNoteMany({ notes }), logger, 'job progress')
    this.breakers = WorkerBreakers.for(store, tasks, logger, () => this.requestClaim())
    this.unlisten = store.listen(this.onNote)
    this.pollTimer = setInterval(() => this.requestClaim(), settings.pollMs)
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), settings.heartbeatMs)
    this.registered = this.beat()
    this.beatTimer = setInterval(() => void this.beat(), Math.min(settings.heartbeatMs, WORKER_BEAT_MAX_MS))
    this.requestClaim()
  }

  /** Jobs running now. */
  get running(): number {
    return this.executions.size
  }

  /**
   * Stops claiming, waits up to `graceMs` for running jobs, then aborts the rest through their
   * signals and returns them to the queue without spending their attempt.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    const graceMs = options.graceMs ?? this.settings.shutdownGraceMs
    if (this.stopping === undefined) this.stopping = this.shutdown(graceMs)
    else if (graceMs === 0) this.endGrace?.()
    return this.stopping
  }

  get stopped(): boolean {
    return this.stopping !== undefined
  }

  // ─── Claiming ─────────────────────────────────────────────────────────────────────────────────

  private readonly onNote = (note: StoreNote): void => {
    switch (note.kind) {
      case 'ready':
        if (this.settings.queues.includes(note.queue)) this.requestClaim()
        break
      case 'changed':
        this.requestClaim()
        break
      case 'finished':
        // A job finished here or elsewhere frees room under a concurrency limit.
        if (this.capsRunning) this.requestClaim()
        break
      case 'cancelled':
        for (const id of note.ids) {
          const execution = this.executions.get(id)
          if (execution !== undefined) this.abort(execution, 'cancelled')
          else this.dropAhead(id)
        }
        break
    }
  }

  /**
   * Asks for a claim at the end of this turn of the event loop. Deferring lets every job that
   * finishes in this turn free its slot first, so one claim fills them all; and because the
   * outcomes were queued to the store before, both share one transaction where the store batches.
   */
  private requestClaim(): void {
    if (this.stopping !== undefined) return
    if (this.claiming || this.claimScheduled || this.claimRetryTimer !== undefined) {
      this.claimAgain = true
      return
    }
    this.claimScheduled = true
    setImmediate(this.claim)
  }

  private readonly claim = async (): Promise<void> => {
    this.claimScheduled = false
    // Enough to fill the free slots and keep `aheadTarget()` jobs waiting behind them.
    const target = this.aheadTarget()
    const wanted = this.freeSlots() + target - this.ahead.size
    if (this.stopping !== undefined || wanted <= 0) return
    const limit = Math.min(wanted, this.settings.batchSize + target)
    this.claiming = true
    this.claimAgain = false
    let jobs: ClaimedJob[]
    // Never rejects: a failed read of the breakers leaves the last view in place.
    const exclude = this.breakers === undefined ? undefined : await this.breakers.exclude()
    const claimStarted = performance.now()
    try {
      jobs = await this.store.jobClaim({
        queues: this.settings.queues,
        workerId: this.id,
        limit,
        leaseMs: this.settings.leaseMs,
        limits: this.settings.limits,
        ...(exclude !== undefined && exclude.length > 0 ? { exclude } : {}),
      })
      this.claimMs = average(this.claimMs, performance.now() - claimStarted)
      this.claimFailures = 0
    } catch (error) {
      this.claiming = false
      if (this.stopping !== undefined || (isOffloadError(error, 'CLOSED'))) return
      const delay = Math.min(5000, 50 * 2 ** this.claimFailures++)
      this.logger.error(`claiming jobs failed; trying again in ${delay} ms`, { worker: this.id, error })
      this.claimRetryTimer = setTimeout(() => {
        this.claimRetryTimer = undefined
        this.requestClaim()
      }, delay)
      return
    }
    const claimed = jobs.length
    if (this.breakers !== undefined && claimed > 0) jobs = await this.admit(this.breakers, jobs)
    this.claiming = false
    if (this.stopping !== undefined) {
      // Claimed while a shutdown began: hand the jobs straight back.
      for (const job of jobs) {
        this.leases.set(job.id, job.lease)
        this.finishes.add({ id: job.id, lease: job.lease, outcome: 'released' })
      }
      return
    }
    for (const job of jobs) {
      this.leases.set(job.id, job.lease)
      this.ahead.set(job.id, job)
    }
    this.startAhead()
    this.claimsAwaitOutcomes = this.capsRunning && claimed < limit
    if (claimed === limit || this.claimAgain) this.requestClaim()
    else if (this.rateWindowMs !== undefined) this.wakeAtNextWindow(this.rateWindowMs)
  }

  /**
   * A claim that came back short may have met a rate limit: try again when the next window opens
   * rather than at the next poll. Windows are aligned to the epoch by the store's clock; this
   * process's clock only times the wake-up, and a claim a little early just finds no room.
   */
  private wakeAtNextWindow(windowMs: number): void {
    if (this.rateTimer !== undefined) return
    this.rateTimer = setTimeout(() => {
      this.rateTimer = undefined
      this.requestClaim()
    }, windowMs - (Date.now() % windowMs) + 1)
    this.rateTimer.unref()
  }

  /** Hands back the claimed jobs whose circuit breaker refuses them; returns the others. */
  private async admit(breakers: WorkerBreakers, jobs: ClaimedJob[]): Promise<ClaimedJob[]> {
    const { run, refused } = await breakers.admit(jobs)
    for (const job of refused) {
      this.leases.set(job.id, job.lease)
      this.finishes.add({ id: job.id, lease: job.lease, outcome: 'released' })
    }
    return run
  }

  /**
   * Slots a job may start in: `concurrency` less the jobs running, and less the outcomes not yet
   * written beyond `concurrency + prefetch` of them — when the store falls behind, starting on
   * would pile up jobs that ran but are not recorded (a crash would run them all again) and make
   * every next write bigger and slower.
   */
  private freeSlots(): number {
    const unwritten = Math.max(0, this.finishes.unwritten - this.settings.concurrency - this.settings.prefetch)
    return this.settings.concurrency - this.executions.size - unwritten
  }

  /**
   * How many jobs to hold claimed ahead of free slots: as many as the handlers finish during one
   * claim round trip, so a slot that frees finds its next job already here instead of waiting for
   * the store — and a job claimed ahead waits about one round trip, no more. Short handlers get up
   * to `prefetch`; handlers slower than a round trip get none (and nothing is held from other
   * workers). Nothing until a handler has run: there is no estimate yet.
   */
  private aheadTarget(): number {
    if (this.settings.prefetch === 0 || this.runMs === undefined || this.claimMs === undefined) return 0
    const perRoundTrip = (this.settings.concurrency * this.claimMs) / Math.max(this.runMs, 0.001)
    return Math.min(this.settings.prefetch, Math.floor(perRoundTrip))
  }

  /** Starts jobs claimed ahead, in claim order, while there are slots. */
  private startAhead(): void {
    let free = this.freeSlots()
    for (const [id, job] of this.ahead) {
      if (free <= 0) break
      this.ahead.delete(id)
      this.start(job)
      free--
    }
  }

  /** A job claimed ahead is no longer ours (cancelled, lease lost): forget it without running it. */
  private dropAhead(id: string): void {
    if (this.ahead.delete(id)) this.leases.delete(id)
  }

  // ─── Running ──────────────────────────────────────────────────────────────────────────────────

  private start(job: ClaimedJob): void {
    const execution: Execution = { job, startedAt: performance.now(), controller: undefined, reason: undefined, timer: undefined, done: false }
    this.executions.set(job.id, execution)
    const task = this.tasks.get(job.task)
    if (task === undefined) {
      this.settle(execution, false, new OffloadError('UNKNOWN_TASK', `task '${job.task}' is not defined in worker ${this.id}`, { task: job.task }))
      return
    }
    if (job.timeoutMs !== undefined) {
      execution.timer = setTimeout(() => this.abort(execution, 'timeout'), job.timeoutMs)
    }
    let running: Promise<unknown>
    try {
      running = Promise.resolve(task.run(job.payload, new HandlerContext(execution, this.notes)))
    } catch (error) {
      running = Promise.reject(error)
    }
    running.then(
      (value) => this.settle(execution, true, value),
      (error: unknown) => this.settle(execution, false, error),
    )
  }

  private settle(execution: Execution, ok: boolean, value: unknown): void {
    if (execution.done) {
      if (execution.reason !== undefined) {
        this.logger.debug('a handler settled after its job was aborted; its outcome is ignored', { job: execution.job.id })
      }
      return
    }
    this.runMs = average(this.runMs, performance.now() - execution.startedAt)
    this.breakers?.settled(execution.job, ok, value)
    this.finish(execution, ok ? this.completion(execution.job, value) : this.failure(execution.job, value))
  }

  private completion(job: ClaimedJob, value: unknown): JobFinish {
    try {
      return { id: job.id, lease: job.lease, outcome: 'completed', result: toJson(value, `the result of task '${job.task}'`) }
    } catch (error) {
      // Running again would return the same unstorable value: fail now.
      return { id: job.id, lease: job.lease, outcome: 'failed', error: errorOf(error) }
    }
  }

  private failure(job: ClaimedJob, error: unknown): JobFinish {
    const fence = { id: job.id, lease: job.lease }
    if (isSnoozeError(error)) return { ...fence, outcome: 'snoozed', delayMs: error.delayMs }
    if (isPermanentError(error) || job.attempt >= job.maxAttempts) return { ...fence, outcome: 'failed', error: errorOf(error) }
    const task = this.tasks.get(job.task)
    const policy = job.backoff ?? task?.backoff ?? DEFAULT_BACKOFF
    let delayMs: number
    try {
      delayMs = backoffDelay(policy, job.attempt, error)
    } catch (policyError) {
      this.logger.error(`the backoff function of task '${job.task}' failed; using the default policy`, { error: policyError })
      delayMs = backoffDelay(DEFAULT_BACKOFF, job.attempt, error)
    }
    return { ...fence, outcome: 'retry', error: errorOf(error), delayMs }
  }

  /** Records the outcome and frees the slot. The lease stays held until the outcome is written. */
  private finish(execution: Execution, finish: JobFinish | undefined): void {
    execution.done = true
    if (execution.timer !== undefined) clearTimeout(execution.timer)
    this.executions.delete(execution.job.id)
    if (finish === undefined) this.leases.delete(execution.job.id)
    else this.finishes.add(finish, this.outcomeWritten)
    if (this.executions.size === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    this.startAhead()
    // Where the store batches, a claim now shares the outcome's transaction and sees its slot free.
    if (!this.claimsAwaitOutcomes || finish === undefined) this.requestClaim()
  }

  /** Jobs held back by unwritten outcomes may start, and claims go ahead, once they are written. */
  private readonly outcomeWritten = (): void => {
    if (this.finishes.unwritten <= this.settings.concurrency + this.settings.prefetch) {
      this.startAhead()
      this.requestClaim()
    }
  }

  private abort(execution: Execution, kind: AbortKind): void {
    if (execution.done) return
    const { job } = execution
    const reason = new JobAbortError(kind, ABORT_MESSAGES[kind](job))
    execution.reason = reason
    execution.controller?.abort(reason)
    switch (kind) {
      case 'timeout':
        // The attempt fails now rather than when (or if) the handler notices its signal: a hung
        // handler must not hold its job forever. It keeps running detached until it settles.
        this.breakers?.settled(job, false, reason)
        this.finish(execution, this.failure(job, reason))
        break
      case 'shutdown':
        this.finish(execution, { id: job.id, lease: job.lease, outcome: 'released' })
        break
      case 'cancelled':
      case 'lease-lost':
        // The job is no longer ours to finish.
        this.finish(execution, undefined)
        break
    }
  }

  private async writeFinishes(finishes: JobFinish[]): Promise<void> {
    await this.store.jobFinishMany({ finishes })
    for (const finish of finishes) {
      if (this.leases.get(finish.id) === finish.lease) this.leases.delete(finish.id)
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.leases.size === 0) return
    const leases = [...this.leases].map(([id, lease]) => ({ id, lease }))
    try {
      const lost = await this.store.jobHeartbeat({ leases, leaseMs: this.settings.leaseMs })
      for (const { id, state } of lost) {
        this.leases.delete(id)
        this.ahead.delete(id)
        const execution = this.executions.get(id)
        if (execution !== undefined) this.abort(execution, state === 'cancelled' ? 'cancelled' : 'lease-lost')
      }
    } catch (error) {
      if (!(isOffloadError(error, 'CLOSED'))) {
        this.logger.warn('renewing leases failed; will try again', { worker: this.id, error })
      }
    }
  }

  // ─── Registry ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Tells the store this worker is alive, for `listWorkers`. A failure only costs the dashboard a
   * beat (the next one makes up for it), so it is logged at debug and never stops the worker.
   */
  private beat(): Promise<void> {
    this.beating ??= this.store
      .workerBeat({
        id: this.id,
        host: this.host,
        pid: process.pid,
        queues: this.settings.queues,
        concurrency: this.settings.concurrency,
        startedAt: this.startedAt,
      })
      .catch((error: unknown) => {
        if (!isOffloadError(error, 'CLOSED')) this.logger.debug('registering the worker failed; will try again', { worker: this.id, error })
      })
      .finally(() => {
        this.beating = undefined
      })
    return this.beating
  }

  /** Leaves the registry at once, rather than when the beats are missed: the worker stopped cleanly. */
  private async unregister(): Promise<void> {
    clearInterval(this.beatTimer)
    // A beat still under way would bring the row back after the delete.
    await this.beating
    try {
      await this.store.workerRemove({ id: this.id })
    } catch (error) {
      if (!isOffloadError(error, 'CLOSED')) this.logger.debug('removing the worker from the registry failed', { worker: this.id, error })
    }
  }

  // ─── Shutdown ─────────────────────────────────────────────────────────────────────────────────

  /** Jobs claimed ahead never started: back to the queue, their attempt not spent. */
  private releaseAhead(): void {
    for (const job of this.ahead.values()) this.finishes.add({ id: job.id, lease: job.lease, outcome: 'released' })
    this.ahead.clear()
  }

  private async shutdown(graceMs: number): Promise<void> {
    clearInterval(this.pollTimer)
    if (this.claimRetryTimer !== undefined) clearTimeout(this.claimRetryTimer)
    if (this.rateTimer !== undefined) clearTimeout(this.rateTimer)
    this.unlisten()
    this.releaseAhead()
    if (this.executions.size > 0) {
      let graceTimer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          this.endGrace = resolve
          graceTimer = setTimeout(resolve, graceMs)
        }),
      ])
      clearTimeout(graceTimer)
      this.endGrace = undefined
    }
    for (const execution of [...this.executions.values()]) this.abort(execution, 'shutdown')
    // A claim may be in flight; wait for it so its jobs are released too.
    while (this.claiming || this.claimScheduled) await new Promise((resolve) => setImmediate(resolve))
    await Promise.all([this.finishes.flush(), this.notes.flush(), this.breakers?.close()])
    clearInterval(this.heartbeatTimer)
    this.finishes.close()
    this.notes.close()
    // Only now: until its jobs are handed back, the worker still holds them.
    await this.unregister()
    this.resolveDone()
  }
}

/** A moving average that follows the last few dozen samples. */
function average(current: number | undefined, sample: number): number {
  return current === undefined ? sample : current + (sample - current) / 16
}

const ABORT_MESSAGES: Record<AbortKind, (job: ClaimedJob) => string> = {
  timeout: (job) => `job ${job.id} timed out after ${job.timeoutMs} ms`,
  cancelled: (job) => `job ${job.id} was cancelled`,
  shutdown: (job) => `the worker is shutting down; job ${job.id} goes back to the queue`,
  'lease-lost': (job) => `the worker lost its lease on job ${job.id}`,
}

function errorOf(error: unknown): FinishError {
  if (error instanceof Error) {
    const result: FinishError = { name: error.name, message: error.message }
    if (error.stack !== undefined) result.stack = error.stack
    return result
  }
  return { name: 'Error', message: typeof error === 'string' ? error : safeString(error) }
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
