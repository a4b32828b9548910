import { isOffloadError, isPermanentError, isSnoozeError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ResolvedBreaker } from '../breaker/breaker-options.js'
import type { BreakerInfo, BreakerOutcome, BreakerSettings, BreakerTransition, ClaimedJob, ClaimExclusion, Store } from '../store/store.js'
import type { TaskDefinition } from '../task.js'
import { Batcher } from './batcher.js'

/** How often a worker re-reads the breakers: how late it sees another worker's transition, at most. */
export const BREAKER_REFRESH_MS = 500

/**
 * A worker's side of its tasks' circuit breakers. It records the outcomes of breaker tasks'
 * attempts (batched, as outcomes are), keeps a view of the breakers that are not closed — re-read
 * every `BREAKER_REFRESH_MS` and after its own transitions — and turns it into the `exclude` list
 * of claims, so jobs of an open breaker stay `queued`. A job claimed before the view caught up
 * asks the store (`breakerProbe`) and is handed back (`released`: its attempt not spent) when the
 * breaker refuses it.
 *
 * Made only for workers with a breaker task: the others pay nothing.
 */
export class WorkerBreakers {
  private readonly settings = new Map<string, BreakerSettings>()
  private readonly perGroup = new Set<string>()
  private readonly outcomes: Batcher<BreakerOutcome>
  private readonly timer: NodeJS.Timeout
  /** Breakers that are not closed, by `keyOf`, as last read. */
  private view = new Map<string, BreakerInfo>()
  /** Breakers that refused a job here since the last read: excluded until the view says otherwise. */
  private readonly refused = new Map<string, ClaimExclusion>()
  private exclusions: ClaimExclusion[] = []
  private refreshing: Promise<void> | undefined
  /** The first read: until it is done the worker does not know which breakers are open. */
  private readonly loaded: Promise<void>
  private closed = false

  /** The breakers of `tasks`' worker, or undefined when no task has one. */
  static for(
    store: Store,
    tasks: ReadonlyMap<string, TaskDefinition<unknown, unknown>>,
    logger: Logger,
    onEased: () => void,
  ): WorkerBreakers | undefined {
    const breakers = new Map<string, ResolvedBreaker>()
    for (const task of tasks.values()) if (task.breaker !== undefined) breakers.set(task.name, task.breaker)
    return breakers.size === 0 ? undefined : new WorkerBreakers(store, breakers, logger, onEased)
  }

  /** `onEased`: the exclusions shrank, jobs left queued may be claimed now. */
  private constructor(
    private readonly store: Store,
    breakers: ReadonlyMap<string, ResolvedBreaker>,
    private readonly logger: Logger,
    private readonly onEased: () => void,
  ) {
    for (const [task, { perGroup, ...settings }] of breakers) {
      this.settings.set(task, settings)
      if (perGroup) this.perGroup.add(task)
    }
    this.outcomes = new Batcher((outcomes) => this.write(outcomes), logger, 'circuit breaker outcomes')
    this.timer = setInterval(() => void this.refresh(), BREAKER_REFRESH_MS)
    this.loaded = this.refresh()
  }

  /** What claims must pass over now; the first call waits for the first read of the breakers. */
  async exclude(): Promise<readonly ClaimExclusion[]> {
    await this.loaded
    return this.exclusions
  }

  /**
   * Splits claimed jobs into those that may run and those to hand back, asking the store about
   * jobs whose breaker the view shows half-open. Never throws: if the store cannot say, the job
   * is handed back (its attempt is not spent) and claimed again later.
   */
  async admit(jobs: readonly ClaimedJob[]): Promise<{ run: ClaimedJob[]; refused: ClaimedJob[] }> {
    const run: ClaimedJob[] = []
    const refused: ClaimedJob[] = []
    for (const job of jobs) {
      const scope = this.scopeOf(job)
      const info = scope === undefined ? undefined : this.view.get(keyOf(scope))
      if (scope === undefined || info === undefined) {
        run.push(job)
        continue
      }
      let admission = 'refused'
      if (info.state !== 'open') {
        try {
          admission = await this.store.breakerProbe({ ...scope })
        } catch (error) {
          if (!isOffloadError(error, 'CLOSED')) this.logger.warn('asking a circuit breaker failed; the job goes back to the queue', { job: job.id, error })
        }
      }
      if (admission === 'refused') {
        this.refuse(scope)
        refused.push(job)
      } else {
        if (admission === 'probe') this.logger.info(`circuit breaker of ${describeScope(scope)} is half-open: job ${job.id} runs as a probe`)
        run.push(job)
      }
    }
    return { run, refused }
  }

  /**
   * Counts a settled attempt: a completion is a success; an error or a timeout a failure. A
   * snooze says "not yet", not "broken", and a `PermanentError` says the job's input is wrong, not
   * that the downstream is down: neither counts. Cancels, lost leases and shutdowns never get here.
   */
  settled(job: ClaimedJob, ok: boolean, error?: unknown): void {
    if (!ok && (isSnoozeError(error) || isPermanentError(error))) return
    const scope = this.scopeOf(job)
    if (scope !== undefined) this.outcomes.add({ ...scope, failed: !ok })
  }

  /** Writes the outcomes still buffered and stops reading. */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    await this.outcomes.flush()
    this.outcomes.close()
    await this.refreshing
  }

  /** The breaker a job answers to; undefined for a task without one, or a per-group task's job without a group. */
  private scopeOf(job: ClaimedJob): { task: string; group?: string } | undefined {
    if (!this.settings.has(job.task)) return undefined
    if (!this.perGroup.has(job.task)) return { task: job.task }
    // A claim can pass over a task's jobs or one group's, not the jobs without a group alone: they
    // are left out of a per-group task's breakers rather than held back with every group's.
    return job.group === undefined ? undefined : { task: job.task, group: job.group }
  }

  private refuse(scope: { task: string; group?: string }): void {
    const key = keyOf(scope)
    if (this.refused.has(key)) return
    this.refused.set(key, scope)
    this.rebuild()
  }

  private async write(outcomes: BreakerOutcome[]): Promise<void> {
    const transitions = await this.store.breakerRecord({ outcomes, settings: this.settings })
    if (transitions.length === 0) return
    // Read the breakers before anything else runs on the news: an opened one must be excluded
    // from the next claim, not half a second later. A read under way may predate the record.
    await this.refreshing
    await this.refresh()
    for (const transition of transitions) this.report(transition)
  }

  private report(transition: BreakerTransition): void {
    const scope = describeScope(transition)
    if (transition.to === 'open') {
      this.logger.warn(`circuit breaker of ${scope} opened: its jobs wait in the queue until it lets a probe through`, { ...transition })
    } else {
      this.logger.info(`circuit breaker of ${scope}: ${transition.from} → ${transition.to}`, { ...transition })
    }
  }

  /** Re-reads the breakers; one read at a time. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined))
    return this.refreshing
  }

  private async read(): Promise<void> {
    if (this.closed) return
    let list: BreakerInfo[]
    try {
      list = await this.store.breakerList({})
    } catch (error) {
      if (!isOffloadError(error, 'CLOSED')) this.logger.debug('reading circuit breakers failed; will try again', { error })
      return
    }
    const view = new Map<string, BreakerInfo>()
    for (const info of list) if (info.state !== 'closed' && this.settings.has(info.task)) view.set(keyOf(info), info)
    this.view = view
    // A fresh view supersedes what refusals taught: the breaker may have let probes through since.
    this.refused.clear()
    this.rebuild()
  }

  private rebuild(): void {
    const before = this.exclusions
    const exclusions = new Map<string, ClaimExclusion>(this.refused)
    for (const [key, info] of this.view) {
      // A half-open breaker with free probe slots is not excluded: its next claimed job asks for one.
      if (info.state === 'open' || info.probesInFlight >= info.settings.probes) exclusions.set(key, scopeOf(info))
    }
    this.exclusions = [...exclusions.values()]
    const eased = before.some((old) => !exclusions.has(keyOf(old)))
    if (eased && !this.closed) this.onEased()
  }
}

function scopeOf(info: { task: string; group?: string }): ClaimExclusion {
  return info.group === undefined ? { task: info.task } : { task: info.task, group: info.group }
}

function keyOf(scope: { task: string; group?: string }): string {
  return scope.group === undefined ? scope.task : `${scope.task}\u0000${scope.group}`
}

function describeScope(scope: { task: string; group?: string }): string {
  return scope.group === undefined ? `task '${scope.task}'` : `task '${scope.task}', group '${scope.group}'`
}
