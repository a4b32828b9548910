import { performance } from 'node:perf_hooks'
import { isOffloadError } from '../errors.js'
import type { Logger } from '../logger.js'
import { DEFAULT_SCHEDULER_SETTINGS, Scheduler } from '../schedules/scheduler.js'
import type { Store, StoreNote, WebhookDeliveryTemplate } from '../store/store.js'

/** Resolved maintenance settings, in milliseconds. Documented on `MaintenanceOptions` in offload.ts. */
export interface MaintenanceSettings {
  owner: string
  leaderTtlMs: number
  promoteIntervalMs: number
  rescueIntervalMs: number
  pruneIntervalMs: number
  retentionMs: { completed: number; failed: number; cancelled: number }
  /** What the webhook dispatcher makes of each finish owed a delivery. */
  webhookDelivery: WebhookDeliveryTemplate
}

const LEADER_NAME = 'maintenance'
const BATCH = 1000
/** The dispatcher's fallback: finishes in another SQLite process are told only as `changed`, and a note may be lost. */
const DISPATCH_INTERVAL_MS = 1000
/**
 * After a dispatch that found nothing, the least time before a note runs the next. Notes come with
 * every finish, most of them of jobs without a webhook; each dispatch is a write, so a busy store
 * pays for at most one empty one per this interval, and a delivery waits at most this long more.
 */
const DISPATCH_EMPTY_GAP_MS = 20
/**
 * How often the leader folds the job counts' pending changes into their totals (PostgreSQL: see
 * `Store.queueCountsCompact`): a dashboard's refresh then sums at most a second's worth of them.
 */
const COUNTS_COMPACT_INTERVAL_MS = 1000
/** Pending count changes folded per statement. */
const COUNTS_BATCH = 10_000

/**
 * The housekeeping one process does for all: promote due jobs, rescue expired leases, prune old
 * history, dispatch completion webhooks, fold the job counts' pending changes, enqueue the ticks of
 * cron schedules (`Scheduler`). Every process that runs it competes for a lease-based leadership
 * in the store; only the leader works, and when it dies another takes over once its leadership
 * expires (`leaderTtlMs`, renewed every third of it).
 *
 * Promotion is timed to the next due job, not to a fixed tick: the promoter sleeps until the
 * earliest run time (or `promoteIntervalMs`, whichever is sooner) and store notes about newly
 * scheduled jobs wake it earlier. A delayed job therefore starts within milliseconds of its time.
 */
export class Maintenance {
  private leader = false
  private stopped = false
  private electTimer: NodeJS.Timeout | undefined
  private promoteTimer: NodeJS.Timeout | undefined
  private rescueTimer: NodeJS.Timeout | undefined
  private pruneTimer: NodeJS.Timeout | undefined
  private countsTimer: NodeJS.Timeout | undefined
  private promoteRunning: Promise<void> | undefined
  private promoteAgain = false
  private dispatchTimer: NodeJS.Timeout | undefined
  private dispatchDelay: NodeJS.Timeout | undefined
  /** Failed dispatch runs in a row. */
  private dispatchFailures = 0
  private dispatchRunning: Promise<void> | undefined
  private dispatchAgain = false
  /** `performance.now()` when a dispatch last found nothing; undefined when it found some. */
  private dispatchEmptyAt: number | undefined
  private readonly running = new Set<Promise<unknown>>()
  private unlisten: (() => void) | undefined
  private readonly scheduler: Scheduler

  constructor(
    private readonly store: Store,
    private readonly settings: MaintenanceSettings,
    private readonly logger: Logger,
  ) {
    this.scheduler = new Scheduler(store, DEFAULT_SCHEDULER_SETTINGS, logger)
  }

  /** A schedule was written in this process: the leader's scheduler looks again now rather than at its next poll. */
  schedulesChanged(): void {
    this.scheduler.wake()
  }

  get isLeader(): boolean {
    return this.leader
  }

  start(): void {
    if (this.electTimer !== undefined || this.stopped) return
    this.electTimer = setInterval(() => this.track(this.elect()), Math.max(100, Math.floor(this.settings.leaderTtlMs / 3)))
    this.electTimer.unref()
    this.track(this.elect())
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.electTimer)
    this.stepDown()
    await Promise.allSettled([...this.running, this.scheduler.stop()])
    try {
      await this.store.leaderResign({ name: LEADER_NAME, owner: this.settings.owner })
    } catch (error) {
      if (!(isOffloadError(error, 'CLOSED'))) this.logger.warn('resigning leadership failed', { error })
    }
  }

  private track(work: Promise<unknown>): void {
    this.running.add(work)
    void work.finally(() => this.running.delete(work))
  }

  private async elect(): Promise<void> {
    if (this.stopped) return
    let won: boolean
    try {
      won = await this.store.leaderElect({ name: LEADER_NAME, owner: this.settings.owner, ttlMs: this.settings.leaderTtlMs })
    } catch (error) {
      if (!(isOffloadError(error, 'CLOSED'))) this.logger.warn('leader election failed', { error })
      won = false
    }
    if (this.stopped) return
    if (won && !this.leader) this.stepUp()
    else if (!won && this.leader) this.stepDown()
  }

  private stepUp(): void {
    this.leader = true
    this.logger.debug('became the maintenance leader', { owner: this.settings.owner })
    this.unlisten = this.store.listen(this.onNote)
    this.rescueTimer = setInterval(() => this.duty('rescue', () => this.rescue()), this.settings.rescueIntervalMs)
    this.pruneTimer = setInterval(() => this.duty('prune', () => this.prune()), this.settings.pruneIntervalMs)
    this.dispatchTimer = setInterval(() => this.dispatchSoon(), DISPATCH_INTERVAL_MS)
    this.countsTimer = setInterval(() => this.duty('counts compaction', () => this.compactCounts()), COUNTS_COMPACT_INTERVAL_MS)
    this.rescueTimer.unref()
    this.pruneTimer.unref()
    this.dispatchTimer.unref()
    this.countsTimer.unref()
    this.duty('rescue', () => this.rescue())
    this.duty('prune', () => this.prune())
    this.promoteSoon()
    this.dispatchSoon()
    this.scheduler.start()
  }

  private stepDown(): void {
    if (!this.leader) return
    this.leader = false
    this.unlisten?.()
    clearInterval(this.rescueTimer)
    clearInterval(this.pruneTimer)
    clearTimeout(this.promoteTimer)
    clearInterval(this.dispatchTimer)
    clearInterval(this.countsTimer)
    clearTimeout(this.dispatchDelay)
    this.dispatchDelay = undefined
    // Its tick under way, if any, finishes on its own; the compare-and-set keeps it from doubling the new leader's.
    void this.scheduler.stop()
  }

  private readonly onNote = (note: StoreNote): void => {
    if (note.kind === 'due' || note.kind === 'changed') this.promoteSoon()
    if (note.kind === 'finished' || note.kind === 'changed') this.dispatchSoon()
  }

  private duty(name: string, run: () => Promise<unknown>): void {
    if (!this.leader || this.stopped) return
    this.track(
      run().catch((error: unknown) => {
        if (!(isOffloadError(error, 'CLOSED'))) this.logger.warn(`maintenance ${name} failed`, { error })
      }),
    )
  }

  /** Runs the promoter now, or right after the run under way. */
  private promoteSoon(): void {
    if (this.promoteRunning !== undefined) {
      this.promoteAgain = true
      return
    }
    clearTimeout(this.promoteTimer)
    this.promoteRunning = this.promote().finally(() => {
      this.promoteRunning = undefined
      if (this.promoteAgain && this.leader && !this.stopped) {
        this.promoteAgain = false
        this.promoteSoon()
      }
    })
    this.track(this.promoteRunning)
  }

  private async promote(): Promise<void> {
    if (!this.leader || this.stopped) return
    let delay = this.settings.promoteIntervalMs
    try {
      // Read before writing: notes arrive on every commit of every process, and most of them
      // find nothing due — a write lock taken for nothing would queue behind real writers.
      let next = await this.store.jobNextDue()
      let now = await this.store.now()
      if (next !== undefined && next <= now) {
        while ((await this.store.jobPromote({ limit: BATCH, now })) === BATCH) {
          if (!this.leader || this.stopped) return
        }
        next = await this.store.jobNextDue()
        now = await this.store.now()
      }
      if (next !== undefined) delay = Math.min(delay, Math.max(0, next - now))
    } catch (error) {
      if (isOffloadError(error, 'CLOSED')) return
      this.logger.warn('maintenance promote failed', { error })
    }
    if (!this.leader || this.stopped) return
    clearTimeout(this.promoteTimer)
    this.promoteTimer = setTimeout(() => this.promoteSoon(), delay)
    this.promoteTimer.unref()
  }

  /**
   * Runs the webhook dispatcher now, right after the run under way, or — after a run that found
   * nothing — once `DISPATCH_EMPTY_GAP_MS` has passed since it.
   */
  private dispatchSoon(): void {
    if (!this.leader || this.stopped) return
    if (this.dispatchRunning !== undefined) {
      this.dispatchAgain = true
      return
    }
    if (this.dispatchDelay !== undefined) return
    const wait = this.dispatchEmptyAt === undefined ? 0 : this.dispatchEmptyAt + DISPATCH_EMPTY_GAP_MS - performance.now()
    if (wait > 0) {
      this.dispatchDelay = setTimeout(() => {
        this.dispatchDelay = undefined
        this.dispatchSoon()
      }, wait)
      this.dispatchDelay.unref()
      return
    }
    this.dispatchAgain = false
    this.dispatchRunning = this.dispatch().finally(() => {
      this.dispatchRunning = undefined
      if (this.dispatchAgain) this.dispatchSoon()
    })
    this.track(this.dispatchRunning)
  }

  /** Turns finishes owed a webhook into delivery jobs, a batch per transaction, until none are left. */
  private async dispatch(): Promise<void> {
    let dispatched = 0
    try {
      for (let count = BATCH; count === BATCH && this.leader && !this.stopped; ) {
        count = await this.store.jobWebhookDispatch({ limit: BATCH, delivery: this.settings.webhookDelivery })
        dispatched += count
      }
      this.dispatchFailures = 0
    } catch (error) {
      // The dispatcher runs on every note, the reconnect's "anything may have changed" among them,
      // so it is often the first to meet a connection the database dropped; the next run (within a
      // second) tries again. One such failure is routine; a second in a row is news.
      if (!isOffloadError(error, 'CLOSED')) {
        this.dispatchFailures++
        const routine = this.dispatchFailures === 1 && isOffloadError(error, 'STORE_UNAVAILABLE')
        if (routine) this.logger.debug('maintenance webhook dispatch failed; trying again', { error })
        else this.logger.warn('maintenance webhook dispatch failed', { error })
      }
    }
    this.dispatchEmptyAt = dispatched === 0 ? performance.now() : undefined
  }

  private async rescue(): Promise<void> {
    let rescued = 0
    for (let count = BATCH; count === BATCH && this.leader && !this.stopped; ) {
      count = await this.store.jobRescue({ limit: BATCH })
      rescued += count
    }
    if (rescued > 0) this.logger.info(`rescued ${rescued} job(s) whose worker stopped renewing its lease`)
  }

  private async compactCounts(): Promise<void> {
    for (let count = COUNTS_BATCH; count === COUNTS_BATCH && this.leader && !this.stopped; ) {
      count = await this.store.queueCountsCompact({ limit: COUNTS_BATCH })
    }
  }

  private async prune(): Promise<void> {
    for (let count = BATCH; count === BATCH && this.leader && !this.stopped; ) {
      count = await this.store.jobPrune({ olderThanMs: this.settings.retentionMs, limit: BATCH })
      // Let other writers in between batches of a large backlog.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}
