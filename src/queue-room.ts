import { checkObject, closest } from './config.js'
import { describe, parseDuration } from './duration.js'
import { isOffloadError, OffloadError, type QueueFullError } from './errors.js'
import type { Store, StoreNote } from './store/store.js'

/** What `whenFull` may say. */
const WHEN_FULL = ['reject', 'wait'] as const
/** How long a `wait` queue's producer waits for room by default. */
export const DEFAULT_FULL_TIMEOUT = '30s'
/**
 * The fallback poll while waiting for room, before jitter. A claim in this process tells nobody
 * (only finishes and other processes' writes are heard), so this is what notices room made by a
 * worker that picked jobs up and is still running them. Jittered between half and one and a half
 * times, so producers that queued up together do not retry in step.
 */
const ROOM_POLL_MS = 100

/**
 * The queues whose producers wait for room when full, with how long (`whenFull: 'wait'`,
 * `fullTimeout`), from the `queues` config; undefined when none does.
 */
export function resolveQueueWaits(value: unknown): ReadonlyMap<string, number> | undefined {
  if (value === undefined) return undefined
  const waits = new Map<string, number>()
  for (const [queue, options] of Object.entries(checkObject(value, 'queues'))) {
    const settings = checkObject(options, `queues.${queue}`)
    const whenFull = settings.whenFull ?? 'reject'
    if (!WHEN_FULL.includes(whenFull as never)) {
      const suggestion = typeof whenFull === 'string' ? closest(whenFull, WHEN_FULL) : undefined
      throw new OffloadError(
        'INVALID_OPTION',
        `queues.${queue}.whenFull must be 'reject' or 'wait', got ${describe(whenFull)}` + (suggestion ? `, did you mean '${suggestion}'?` : ''),
        { option: `queues.${queue}.whenFull`, suggestion: suggestion ?? null },
      )
    }
    if (whenFull === 'reject') {
      if (settings.fullTimeout !== undefined) {
        throw new OffloadError('INVALID_OPTION', `queues.${queue}.fullTimeout only applies with whenFull: 'wait'`, { option: `queues.${queue}.fullTimeout` })
      }
      continue
    }
    if (settings.maxQueued === undefined) {
      throw new OffloadError('INVALID_OPTION', `queues.${queue}.whenFull: 'wait' needs maxQueued: a queue without a cap is never full`, {
        option: `queues.${queue}.whenFull`,
      })
    }
    waits.set(queue, parseDuration(settings.fullTimeout ?? DEFAULT_FULL_TIMEOUT, `queues.${queue}.fullTimeout`))
  }
  return waits.size === 0 ? undefined : waits
}

/**
 * Backpressure that waits: runs an insert, and while a queue with `whenFull: 'wait'` refuses it
 * as full, runs it again when room may have appeared — a job finished or was cancelled here, or
 * another process wrote (a store note), or the short fallback poll came round — until the queue's
 * `fullTimeout` has passed since the first try; then the last `QueueFullError` goes to the caller.
 * A refused insert wrote nothing, so trying again is safe.
 */
export class QueueRoom {
  constructor(
    private readonly store: Store,
    /** Timeout (ms) by queue name, for the queues that wait. */
    private readonly waits: ReadonlyMap<string, number> | undefined,
  ) {}

  /** `signals`: any of them aborting ends a wait (`ABORTED`, or `CLOSED` from `close()`). */
  async insert<T>(attempt: () => Promise<T>, signals: readonly (AbortSignal | undefined)[]): Promise<T> {
    if (this.waits === undefined) return attempt()
    const started = Date.now()
    let signal: AbortSignal | undefined
    for (;;) {
      // Listening before the try: a finish between the refusal and the wait must still wake it.
      const wake = new Wake(this.store)
      try {
        return await attempt()
      } catch (error) {
        if (!isOffloadError(error, 'QUEUE_FULL')) throw error
        const timeoutMs = this.waits.get((error as QueueFullError).queue)
        const left = timeoutMs === undefined ? 0 : started + timeoutMs - Date.now()
        if (left <= 0) throw error
        // Combined only now: most enqueues never wait, and should not pay for it.
        signal ??= AbortSignal.any(signals.filter((one) => one !== undefined))
        await wake.wait(Math.min(left, ROOM_POLL_MS * (0.5 + Math.random())), signal, error as QueueFullError)
      } finally {
        wake.stop()
      }
    }
  }
}

/** Resolves at the first note that may mean room, or after `ms`; rejects when `signal` aborts. */
class Wake {
  private woken = false
  private resolve: (() => void) | undefined
  private readonly unlisten: () => void

  constructor(store: Store) {
    this.unlisten = store.listen((note: StoreNote) => {
      // Jobs leave `queued` by claims, which nobody is told of; these are the hints that some did.
      if (note.kind !== 'finished' && note.kind !== 'cancelled' && note.kind !== 'changed') return
      this.woken = true
      this.resolve?.()
    })
  }

  wait(ms: number, signal: AbortSignal | undefined, full: QueueFullError): Promise<void> {
    if (this.woken) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        done()
        if (isOffloadError(signal?.reason, 'CLOSED')) reject(signal.reason)
        else reject(new OffloadError('ABORTED', `the enqueue was aborted while waiting for room in queue '${full.queue}'`, { queue: full.queue }))
      }
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.resolve = undefined
      }
      const timer = setTimeout(() => {
        done()
        resolve()
      }, ms)
      this.resolve = () => {
        done()
        resolve()
      }
      if (signal?.aborted) onAbort()
      else signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  stop(): void {
    this.unlisten()
  }
}
