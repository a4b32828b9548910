import { isOffloadError } from '../errors.js'
import { uuidv7 } from '../ids.js'
import type { Logger } from '../logger.js'
import type { JobInsert, ScheduleInfo, Store } from '../store/store.js'
import { LATE_GRACE_MS, planTick } from './tick-plan.js'

export interface SchedulerSettings {
  /**
   * The longest the scheduler sleeps between looks at the schedules: how late it may see a
   * schedule that another process wrote with an earlier next run than any it knew.
   */
  pollIntervalMs: number
  /** How late a tick may be and still be enqueued whatever `catchUp` says (see `LATE_GRACE_MS`). */
  graceMs: number
}

export const DEFAULT_SCHEDULER_SETTINGS: SchedulerSettings = { pollIntervalMs: 1000, graceMs: LATE_GRACE_MS }

/**
 * Enqueues the jobs of due cron schedules. It sleeps until the earliest next run among the
 * schedules (or `pollIntervalMs`, whichever is sooner), then ticks every due schedule through
 * `Store.scheduleTick`, whose compare-and-set makes each tick's enqueue happen once: any number of
 * schedulers may run against one store, and do — the maintenance leader runs one, and a leader
 * that lost its leadership without knowing yet may still run its own for a moment.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = true

  constructor(
    private readonly store: Store,
    private readonly settings: SchedulerSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.wake()
  }

  /** Looks at the schedules now, or right after the look under way: one was written here. */
  wake(): void {
    if (this.stopped) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    clearTimeout(this.timer)
    this.running = this.run().finally(() => {
      this.running = undefined
      if (this.again && !this.stopped) {
        this.again = false
        this.wake()
      }
    })
  }

  /** Stops; resolves once a tick under way has been written or has failed. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  private async run(): Promise<void> {
    let delay = this.settings.pollIntervalMs
    try {
      const schedules = await this.store.scheduleList()
      let now = await this.store.now()
      let ticked = false
      /** Schedules whose tick failed: tried again after `pollIntervalMs`, not in a tight loop. */
      const failed = new Set<string>()
      for (const schedule of schedules) {
        if (this.stopped) return
        const outcome = await this.tick(schedule, now)
        if (outcome === 'failed') failed.add(schedule.name)
        ticked ||= outcome === 'ticked'
      }
      // The ticks moved next runs: read them again rather than guess what the writes did.
      const next = ticked ? await this.store.scheduleList() : schedules
      if (ticked) now = await this.store.now()
      for (const schedule of next) {
        if (schedule.paused || schedule.nextRunAt === undefined || failed.has(schedule.name)) continue
        delay = Math.min(delay, Math.max(0, schedule.nextRunAt.getTime() - now))
      }
    } catch (error) {
      if (isOffloadError(error, 'CLOSED')) return
      this.logger.warn(`reading the schedules failed; trying again in ${delay} ms`, { error })
    }
    if (this.stopped) return
    this.timer = setTimeout(() => this.wake(), delay)
    this.timer.unref()
  }

  /** Ticks one schedule if it is due: `ticked` when it was (this process won the tick, or another did). */
  private async tick(schedule: ScheduleInfo, now: number): Promise<'ticked' | 'idle' | 'failed'> {
    try {
      const plan = planTick(schedule, now, this.settings.graceMs)
      if (plan === undefined) return 'idle'
      const jobs = plan.ticks.map((tick) => tickJob(schedule, tick))
      const won = await this.store.scheduleTick({ name: schedule.name, due: plan.due, next: plan.next, ticks: plan.ticks, jobs })
      if (won) {
        const missed = plan.ticks.length === 0 ? ' (missed ticks skipped)' : ''
        this.logger.debug(`schedule '${schedule.name}' enqueued ${plan.ticks.length} job(s)${missed}`, { next: plan.next })
      }
      return 'ticked'
    } catch (error) {
      if (isOffloadError(error, 'CLOSED')) throw error
      // One bad schedule (a task's queue full, an expression this croner no longer reads) must
      // not hold up the others; it is tried again at the next run.
      this.logger.warn(`ticking schedule '${schedule.name}' failed; trying again in ${this.settings.pollIntervalMs} ms`, { error })
      return 'failed'
    }
  }
}

/**
 * The job of one tick. Its run time is the tick's, so ticks enqueued late still run in tick order,
 * and its metadata names the schedule and the tick (`schedule`, `scheduledFor`).
 */
export function tickJob(schedule: ScheduleInfo, tick: number): JobInsert {
  const job: JobInsert = {
    id: uuidv7(),
    task: schedule.task,
    queue: schedule.queue,
    payload: JSON.stringify(schedule.payload),
    priority: schedule.job.priority,
    maxAttempts: schedule.job.maxAttempts,
    metadata: JSON.stringify({ ...schedule.job.metadata, schedule: schedule.name, scheduledFor: new Date(tick).toISOString() }),
    runAt: tick,
  }
  if (schedule.job.timeoutMs !== undefined) job.timeoutMs = schedule.job.timeoutMs
  if (schedule.job.backoff !== undefined) job.backoff = schedule.job.backoff
  return job
}
