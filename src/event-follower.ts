import { isOffloadError } from './errors.js'
import type { JobEvent } from './job.js'
import type { Store } from './store/store.js'

export interface EventFollowerOptions {
  /** The fallback poll, for changes a store note missed (notes are hints). */
  pollMs: number
  /** Events read per round trip. */
  batch: number
  /** Called, in `seq` order, with every event appended after `start()`. */
  onEvents: (events: JobEvent[]) => Promise<void> | void
  /** A read failed; following goes on at the next note or poll. */
  onError: (error: unknown) => void
}

/**
 * Follows the store's event log as it grows, the way `tail -f` follows a file: it remembers the
 * newest `seq` at start, then reads what came after whenever the store sends a note, backed by a
 * short poll because notes are hints. Reads never overlap, so
 * events arrive once each and in order.
 */
export class EventFollower {
  private after = 0
  private unlisten: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private reading: Promise<void> | undefined
  private readAgain = false
  private stopped = false

  constructor(
    private readonly store: Store,
    private readonly options: EventFollowerOptions,
  ) {}

  /**
   * Skips the log as it stands; from now on every new event is delivered. Resolves with the `seq`
   * it starts after: events up to it are the past, for anyone who wants to read them separately.
   */
  async start(): Promise<number> {
    this.after = await this.store.eventLastSeq()
    this.unlisten = this.store.listen(() => this.read())
    this.timer = setInterval(() => this.read(), this.options.pollMs)
    // Following is a side show: it must never be what keeps the process alive.
    this.timer.unref()
    return this.after
  }

  /** Stops following after delivering the events the log holds now (jobs released on shutdown). */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.unlisten?.()
    clearInterval(this.timer)
    await this.reading
    await this.drain().catch(this.report)
  }

  private read(): void {
    if (this.stopped) return
    if (this.reading !== undefined) {
      this.readAgain = true
      return
    }
    this.reading = this.drain()
      .catch(this.report)
      .finally(() => {
        this.reading = undefined
        if (this.readAgain) {
          this.readAgain = false
          this.read()
        }
      })
  }

  private async drain(): Promise<void> {
    for (;;) {
      const events = await this.store.eventList({ after: this.after, limit: this.options.batch })
      if (events.length === 0) return
      this.after = events[events.length - 1]!.seq
      await this.options.onEvents(events)
      if (events.length < this.options.batch) return
    }
  }

  private readonly report = (error: unknown): void => {
    // A closing store is the normal end of a shutdown, not news.
    if (!isOffloadError(error, 'CLOSED')) this.options.onError(error)
  }
}
