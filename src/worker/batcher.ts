import { isOffloadError } from '../errors.js'
import type { Logger } from '../logger.js'

interface Entry<T> {
  item: T
  done: (() => void) | undefined
}

/**
 * Buffers items and writes them in batches: the first item starts a write at the end of the
 * current microtask run, and items arriving while a write is under way go together in the next
 * one. Under light load every item is written with no added delay; under heavy load a batch grows
 * to whatever arrived during one round trip — there is no fixed timer to tune.
 *
 * A failed write is retried with backoff until it succeeds or the batcher is closed: completions
 * and progress must not be dropped because the database blinked.
 */
export class Batcher<T> {
  private buffer: Entry<T>[] = []
  /** Items taken for the write under way (or waiting to be retried). */
  private inFlight = 0
  private writing: Promise<void> | undefined
  private retryDelay = 0
  private closed = false

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /**
   * Queues `item`; `done` runs once it was written, or dropped by `close()`. Callers that do not
   * wait pass no callback, so the hot path allocates no promise per item.
   */
  add(item: T, done?: () => void): void {
    if (this.closed) return done?.()
    this.buffer.push({ item, done })
    this.writing ??= this.run()
  }

  /** Queues `item` and resolves once it was written (or dropped by `close()`). Never rejects. */
  push(item: T): Promise<void> {
    return new Promise<void>((done) => this.add(item, done))
  }

  /** Items added and not yet written (or dropped). */
  get unwritten(): number {
    return this.buffer.length + this.inFlight
  }

  /** Resolves once everything added so far was written (or dropped by `close()`). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing
  }

  /** Stops writing; items not yet written are dropped and their callbacks run. */
  close(): void {
    this.closed = true
    settle(this.buffer.splice(0))
  }

  private async run(): Promise<void> {
    await Promise.resolve()
    while (this.buffer.length > 0 && !this.closed) {
      const entries = this.buffer
      this.buffer = []
      this.inFlight = entries.length
      try {
        await this.write(entries.map((entry) => entry.item))
        this.retryDelay = 0
        this.inFlight = 0
        settle(entries)
      } catch (error) {
        this.inFlight = 0
        if (this.closed || isOffloadError(error, 'CLOSED')) {
          settle(entries)
          break
        }
        this.buffer = entries.concat(this.buffer)
        this.retryDelay = Math.min(1000, Math.max(10, this.retryDelay * 2))
        this.logger.warn(`writing ${this.what} failed; retrying in ${this.retryDelay} ms`, { error })
        await new Promise((resolve) => setTimeout(resolve, this.retryDelay))
      }
    }
    this.writing = undefined
  }
}

function settle<T>(entries: Entry<T>[]): void {
  for (const entry of entries) entry.done?.()
}
