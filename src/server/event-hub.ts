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
 * It also keeps per-queue activity in bounded memory: counts per 5-second bucket over the last 15
 * minutes, for `GET /v1/queues`. The counts are what this hub saw arrive, by its own clock, since
 * it started — work done by every process on the store, but nothing from before `since`.
 */
export class EventHub {
  private readonly logger: Logger
  private readonly now: () => number
  private readonly follower: EventFollower
  private readonly listeners = new Set<Listener>()
  private readonly counters = new Map<string, QueueCounter>()
  private startedAt: number | undefined
  private starting: Promise<void> | undefined

  constructor(store: Store, options: EventHubOptions) {
    checkObject(options, 'EventHub options')
    checkOptions(options, HUB_OPTIONS, 'EventHub')
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

  /** Starts tailing the log from its current end. The store must be migrated. Idempotent. */
  start(): Promise<void> {
    this.starting ??= this.follower.start().then(() => {
      this.startedAt = this.now()
    })
    return this.starting
  }

  /** Stops tailing after handing out the events the log holds now. Subscribers stay subscribed. */
  async stop(): Promise<void> {
    if (this.starting === undefined) return
    await this.starting.catch(() => undefined)
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

  /** completed / failed / enqueued counts per queue over the last 1, 5 and 15 minutes, as far back as this hub has watched (`since`). */
  activity(): { since: Date; queues: Map<string, QueueActivity> } {
    const now = this.now()
    const queues = new Map<string, QueueActivity>()
    for (const [queue, counter] of this.counters) {
      // A queue quiet for the whole window is forgotten: the map holds only live queues.
      if (counter.idle(now)) this.counters.delete(queue)
      else queues.set(queue, counter.windows(now))
    }
    return { since: new Date(this.startedAt ?? now), queues }
  }

  private publish(events: readonly JobEvent[]): void {
    const now = this.now()
    for (const event of events) {
      const kind = activityKind(event)
      if (kind === undefined) continue
      let counter = this.counters.get(event.queue)
      if (counter === undefined) this.counters.set(event.queue, (counter = new QueueCounter()))
      counter.add(kind, now)
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
 * one to two minutes long (or an estimate); with 5 s the windows are exact to 5 s, and a queue
 * still costs only 3 × 181 numbers.
 */
const BUCKET_MS = 5_000
const WINDOWS: readonly [keyof WindowCounts, number][] = [
  ['1m', 60_000 / BUCKET_MS],
  ['5m', 300_000 / BUCKET_MS],
  ['15m', 900_000 / BUCKET_MS],
]
/** The 15-minute window plus the bucket being filled now. */
const SLOTS = 900_000 / BUCKET_MS + 1

/** One queue's counts in a ring of buckets; a slot is reused once its bucket is out of every window. */
class QueueCounter {
  /** The bucket number each slot holds, -1 for none. */
  private readonly buckets = new Array<number>(SLOTS).fill(-1)
  private readonly counts: Record<ActivityKind, number[]> = {
    enqueued: new Array<number>(SLOTS).fill(0),
    completed: new Array<number>(SLOTS).fill(0),
    failed: new Array<number>(SLOTS).fill(0),
  }
  private newest = -1

  add(kind: ActivityKind, now: number): void {
    const bucket = Math.floor(now / BUCKET_MS)
    const slot = bucket % SLOTS
    if (this.buckets[slot] !== bucket) {
      this.buckets[slot] = bucket
      for (const name of KINDS) this.counts[name][slot] = 0
    }
    this.counts[kind][slot]!++
    if (bucket > this.newest) this.newest = bucket
  }

  /** Nothing counted in the last 15 minutes. */
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
}
