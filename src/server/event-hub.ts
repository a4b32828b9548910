import { EventFollower } from '../event-follower.js'
import { checkNumber, checkObject, checkOptions } from '../config.js'
import type { JobEvent } from '../job.js'
import type { Logger } from '../logger.js'
import type { Store } from '../store/store.js'

/** How many events happened in the last 1, 5 and 15 minutes. */
export interface WindowCounts {
  '1m': number
  '5m': number
  '15m': number
}

/** One queue's events per minute over the last hour, oldest minute first. */
export interface QueueHistory {
  enqueued: number[]
  completed: number[]
  failed: number[]
}

/** One queue's throughput and failures over the last minutes. */
export interface QueueActivity {
  enqueued: WindowCounts
  completed: WindowCounts
  failed: WindowCounts
}

export interface EventHubOptions {
  /** Where a failed read of the log or a failing listener is reported. */
  logger: Logger
  /**
   * The fallback poll of the event log, for changes a store note missed (notes are hints). It is
   * also the longest an event waits before it reaches the streams when no note comes.
   * @defaultValue 1000 where the store sends notes (`capabilities.listen`), else 250
   */
  pollMs?: number
  /** The clock activity windows are kept by, epoch milliseconds; for tests. @defaultValue `Date.now` */
  now?: () => number
}

const HUB_OPTIONS = ['logger', 'pollMs', 'now'] as const
/** Events read per round trip of the tail. */
const BATCH = 1000

type Listener = (events: readonly JobEvent[]) => void

/**
 * The process's one tail of the store's event log, shared by every SSE stream and the metrics.
 *
 * One reader however many clients: on PostgreSQL a tail read waits for the log's horizon by
 * taking the event gate exclusively, so each extra reader would stall every writer once more per
 * note. The hub reads each new event once (through `EventFollower`: note-driven, a fallback poll,
 * reads that never overlap) and hands the batch to every subscriber, in `seq` order.
 *
 * It also keeps per-queue activity in bounded memory: counts per 5-second bucket over the last
 * hour, for `GET /v1/queues` and the dashboard's charts. The counts are what this hub saw arrive,
 * by its own clock — work done by every process on the store — plus the hour before its start,
 * read back from the log (`since` says from when they are complete).
 */
export class EventHub {
  private readonly store: Store
  private readonly logger: Logger
  private readonly now: () => number
  private readonly follower: EventFollower
  private readonly listeners = new Set<Listener>()
  private readonly counters = new Map<string, QueueCounter>()
  private startedAt: number | undefined
  /** From when the activity counts are complete: the hub's start until the backfill has read the hour before it. */
  private knownSince: number | undefined
  private starting: Promise<void> | undefined
  private backfilling: Promise<void> | undefined
  private stopped = false

  constructor(store: Store, options: EventHubOptions) {
    checkObject(options, 'EventHub options')
    checkOptions(options, HUB_OPTIONS, 'EventHub')
    this.store = store
    this.logger = options.logger
    this.now = options.now ?? Date.now
    const pollMs =
      options.pollMs === undefined ? (store.capabilities.listen ? 1000 : 250) : checkNumber(options.pollMs, 'pollMs', { integer: true, min: 10 })
    this.follower = new EventFollower(store, {
      pollMs,
      batch: BATCH,
      onEvents: (events) => this.publish(events),
      onError: (error) => this.logger.warn('reading the event log failed; retrying at the next note or poll', { error }),
    })
  }

  /**
   * Starts tailing the log from its current end, then, in the background, reads back the last
   * hour of the log into the activity counts. The store must be migrated. Idempotent.
   */
  start(): Promise<void> {
    this.starting ??= this.follower.start().then((startSeq) => {
      this.startedAt = this.now()
      this.backfilling = this.backfill(startSeq).catch((error: unknown) => {
        this.logger.warn('reading the last hour of the event log for activity failed; activity counts start now', { error })
      })
    })
    return this.starting
  }

  /** Stops tailing after handing out the events the log holds now. Subscribers stay subscribed. */
  async stop(): Promise<void> {
    if (this.starting === undefined) return
    await this.starting.catch(() => undefined)
    this.stopped = true
    await this.backfilling
    await this.follower.stop()
  }

  /**
   * Calls `listener` with every batch of new events, oldest first, from the next read on. A
   * listener must not block: it runs on the tail's path, before the next read.
   */
  subscribe(listener: (events: readonly JobEvent[]) => void): () => void {
    // Wrapped, so the same function subscribed twice gets two deliveries and two unsubscribes.
    const entry: Listener = (events) => listener(events)
    this.listeners.add(entry)
    return () => void this.listeners.delete(entry)
  }

  /** completed / failed / enqueued counts per queue over the last 1, 5 and 15 minutes, as far back as this hub knows (`since`). */
  activity(): { since: Date; queues: Map<string, QueueActivity> } {
    const now = this.now()
    const queues = new Map<string, QueueActivity>()
    for (const [queue, counter] of this.liveCounters(now)) queues.set(queue, counter.windows(now))
    return { since: this.since(now), queues }
  }

  /**
   * Per-minute counts per queue for the last hour, oldest minute first, the current (partial)
   * minute last: what the dashboard's throughput and failure-rate charts draw. `start` is the
   * first minute's start; minutes before `since` are unknown, not quiet.
   */
  history(): { start: Date; since: Date; bucketMs: number; queues: Map<string, QueueHistory> } {
    const now = this.now()
    const queues = new Map<string, QueueHistory>()
    for (const [queue, counter] of this.liveCounters(now)) queues.set(queue, counter.minutes(now))
    return { start: new Date((Math.floor(now / MINUTE_MS) - HISTORY_MINUTES + 1) * MINUTE_MS), since: this.since(now), bucketMs: MINUTE_MS, queues }
  }

  private since(now: number): Date {
    return new Date(Math.max(this.knownSince ?? this.startedAt ?? now, now - HOUR_MS))
  }

  /** The counters of queues with activity in the last hour; a queue quiet for the whole hour is forgotten. */
  private liveCounters(now: number): Map<string, QueueCounter> {
    for (const [queue, counter] of this.counters) if (counter.idle(now)) this.counters.delete(queue)
    return this.counters
  }

  /**
   * Counts the hour of the log before `startSeq` (where the tail began), so activity and charts
   * are whole right after a restart. The log is ordered by `seq`, not indexed by time: a binary
   * search on `seq` finds where the hour begins, then pages are read up to `startSeq` — at most
   * `BACKFILL_LIMIT` events, the newest ones, so a busy store costs a bounded read. Counted by
   * each event's own time (the tail counts by the hub's clock: the two agree to within a note).
   */
  private async backfill(startSeq: number): Promise<void> {
    const now = this.now()
    const from = now - HOUR_MS
    const floor = Math.max(0, startSeq - BACKFILL_LIMIT)
    // The first event after `low` is older than the hour (or `low` is the floor); events after `high` are inside it.
    let low = floor
    let high = startSeq
    while (low < high && !this.stopped) {
      const middle = Math.floor((low + high) / 2)
      const [first] = await this.store.eventList({ after: middle, limit: 1 })
      if (first === undefined || first.seq > startSeq || first.at.getTime() >= from) high = middle
      else low = first.seq
    }
    let after = low
    let oldest: number | undefined
    while (after < startSeq && !this.stopped) {
      const events = await this.store.eventList({ after, limit: BATCH })
      if (events.length === 0) break
      for (const event of events) {
        if (event.seq > startSeq) break
        const at = event.at.getTime()
        oldest ??= at
        const kind = activityKind(event)
        if (kind !== undefined && at >= from) this.counter(event.queue).add(kind, at)
      }
      after = events[events.length - 1]!.seq
    }
    if (this.stopped) return
    // Cut short by the limit: what came before the oldest event read is unknown.
    this.knownSince = floor > 0 && oldest !== undefined && oldest > from ? oldest : from
  }

  private counter(queue: string): QueueCounter {
    let counter = this.counters.get(queue)
    if (counter === undefined) this.counters.set(queue, (counter = new QueueCounter()))
    return counter
  }

  private publish(events: readonly JobEvent[]): void {
    const now = this.now()
    for (const event of events) {
      const kind = activityKind(event)
      if (kind !== undefined) this.counter(event.queue).add(kind, now)
    }
    // A snapshot: a listener that subscribes or leaves during delivery changes the next batch.
    for (const listener of [...this.listeners]) {
      try {
        listener(events)
      } catch (error) {
        this.logger.error('an event listener failed', { error })
      }
    }
  }
}

type ActivityKind = keyof QueueActivity
const KINDS: readonly ActivityKind[] = ['enqueued', 'completed', 'failed']

/** What an event counts as: a lease that expired with no attempts left is a failure too. */
function activityKind(event: JobEvent): ActivityKind | undefined {
  if (event.type === 'enqueued' || event.type === 'completed' || event.type === 'failed') return event.type
  if (event.type === 'rescued' && event.state === 'failed') return 'failed'
  return undefined
}

/**
 * 5-second buckets rather than minute ones: a minute bucket makes "the last minute" anything from
 * one to two minutes long (or an estimate); with 5 s the windows are exact to 5 s. An hour of them
 * (for the charts) costs a queue 3 × 721 numbers.
 */
const BUCKET_MS = 5_000
const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const HISTORY_MINUTES = HOUR_MS / MINUTE_MS
/** The most events a start reads back for the hour before it: about a second of reading. */
const BACKFILL_LIMIT = 300_000
const WINDOWS: readonly [keyof WindowCounts, number][] = [
  ['1m', 60_000 / BUCKET_MS],
  ['5m', 300_000 / BUCKET_MS],
  ['15m', 900_000 / BUCKET_MS],
]
/** The hour plus the bucket being filled now. */
const SLOTS = HOUR_MS / BUCKET_MS + 1

/** One queue's counts in a ring of buckets; a slot is reused once its bucket is out of the hour. */
class QueueCounter {
  /** The bucket number each slot holds, -1 for none. */
  private readonly buckets = new Array<number>(SLOTS).fill(-1)
  private readonly counts: Record<ActivityKind, number[]> = {
    enqueued: new Array<number>(SLOTS).fill(0),
    completed: new Array<number>(SLOTS).fill(0),
    failed: new Array<number>(SLOTS).fill(0),
  }
  private newest = -1

  add(kind: ActivityKind, at: number): void {
    const bucket = Math.floor(at / BUCKET_MS)
    const slot = bucket % SLOTS
    const held = this.buckets[slot]!
    // A backfilled event older than what its slot holds now belongs to a bucket already out of the hour.
    if (held > bucket) return
    if (held !== bucket) {
      this.buckets[slot] = bucket
      for (const name of KINDS) this.counts[name][slot] = 0
    }
    this.counts[kind][slot]!++
    if (bucket > this.newest) this.newest = bucket
  }

  /** Nothing counted in the last hour. */
  idle(now: number): boolean {
    return this.newest <= Math.floor(now / BUCKET_MS) - SLOTS + 1
  }

  /** Each window holds the bucket being filled and the full ones before it: the last N minutes, to 5 s. */
  windows(now: number): QueueActivity {
    const current = Math.floor(now / BUCKET_MS)
    const activity = {} as QueueActivity
    for (const kind of KINDS) {
      const counts = {} as WindowCounts
      for (const [name, size] of WINDOWS) {
        let sum = 0
        for (let slot = 0; slot < SLOTS; slot++) {
          const bucket = this.buckets[slot]!
          if (bucket <= current && bucket > current - size) sum += this.counts[kind][slot]!
        }
        counts[name] = sum
      }
      activity[kind] = counts
    }
    return activity
  }

  /** The hour as 60 minute totals (5 s buckets fit a minute 12 times), the current minute last. */
  minutes(now: number): QueueHistory {
    const first = Math.floor(now / MINUTE_MS) - HISTORY_MINUTES + 1
    const history = {} as QueueHistory
    for (const kind of KINDS) {
      const totals = new Array<number>(HISTORY_MINUTES).fill(0)
      for (let slot = 0; slot < SLOTS; slot++) {
        const bucket = this.buckets[slot]!
        if (bucket < 0) continue
        const minute = Math.floor((bucket * BUCKET_MS) / MINUTE_MS) - first
        if (minute >= 0 && minute < HISTORY_MINUTES) totals[minute]! += this.counts[kind][slot]!
      }
      history[kind] = totals
    }
    return history
  }
}
