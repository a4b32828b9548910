import { parseDuration, type Duration } from './duration.js'

/**
 * Errors are recognised by a brand, not `instanceof`: a task module may load another copy of
 * Offload than the worker running it (a compiled CLI, a duplicated install), and a handler's
 * `PermanentError` must still mean "do not retry" there.
 */
const BRAND: unique symbol = Symbol.for('offload.error') as never

function brandOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as { [BRAND]?: unknown })[BRAND] : undefined
}

/**
 * Stable error codes. They are API: tests, the CLI and (later) the HTTP layer switch on them, so a
 * code is never renamed, and a message may change but a code's meaning may not.
 */
export type OffloadErrorCode =
  /** An option name that Offload does not know; `details.suggestion` holds the closest known one. */
  | 'UNKNOWN_OPTION'
  /** A known option with a value of the wrong type or out of range. */
  | 'INVALID_OPTION'
  /** A task or queue name that does not match the allowed pattern. */
  | 'INVALID_NAME'
  /** A task name this Offload instance has no definition for. */
  | 'UNKNOWN_TASK'
  /** The same task name defined twice on one instance. */
  | 'DUPLICATE_TASK'
  /** A payload, result, metadata or progress value that JSON cannot carry faithfully. */
  | 'INVALID_PAYLOAD'
  /** A payload over `maxPayloadSize` once serialised. */
  | 'PAYLOAD_TOO_LARGE'
  | 'JOB_NOT_FOUND'
  /** A job with the same id is already stored (ids are generated unique; copies between stores keep them). */
  | 'JOB_EXISTS'
  /** The job is in a state the operation does not apply to (cancel a completed job, retry a queued one). */
  | 'INVALID_STATE'
  /** A store URL Offload cannot use. */
  | 'INVALID_STORE'
  /** The store could not be reached or opened. */
  | 'STORE_UNAVAILABLE'
  /** The store stayed locked by other processes for longer than the configured busy timeout. */
  | 'STORE_BUSY'
  /** The database was migrated by a newer Offload than this one. */
  | 'SCHEMA_TOO_NEW'
  /** The Offload instance (or store) was closed. */
  | 'CLOSED'
  /** `result()` waited longer than its timeout. */
  | 'TIMEOUT'
  /** `result()` was aborted through its signal. */
  | 'ABORTED'
  /** `result()` on a job that ended in `failed`; `details.error` holds the last attempt's error. */
  | 'JOB_FAILED'
  /** `result()` on a job that ended in `cancelled`. */
  | 'JOB_CANCELLED'
  /** An enqueue would take a queue past its `maxQueued`; see `QueueFullError`. */
  | 'QUEUE_FULL'
  /** No cron schedule has that name. */
  | 'SCHEDULE_NOT_FOUND'
  /** `resetBreaker` named a task (and group) whose circuit breaker has never recorded an outcome. */
  | 'BREAKER_NOT_FOUND'

/**
 * The one error type Offload throws for anything a caller did or should handle. `code` is stable;
 * `details` carries machine-readable context (the option name, the job id, a suggestion).
 */
export class OffloadError extends Error {
  override readonly name: string = 'OffloadError'
  readonly [BRAND] = 'OffloadError'
  readonly code: OffloadErrorCode
  readonly details: Record<string, unknown>

  constructor(
    code: OffloadErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}

export function isOffloadError(value: unknown, code?: OffloadErrorCode): value is OffloadError {
  return brandOf(value) === 'OffloadError' && (code === undefined || (value as OffloadError).code === code)
}

/**
 * An enqueue was refused because its queue already holds `limit` queued jobs (`queues.<name>.maxQueued`
 * in the config): backpressure. Nothing was written; try again once workers have caught up. Over
 * HTTP it is a `429` with `Retry-After`.
 */
export class QueueFullError extends OffloadError {
  override readonly name: string = 'QueueFullError'
  constructor(
    readonly queue: string,
    readonly limit: number,
    readonly queued: number,
  ) {
    super('QUEUE_FULL', `queue '${queue}' is full: ${queued} jobs queued, the limit is ${limit}`, { queue, limit, queued })
  }
}

/**
 * Thrown by a handler to fail its job now, without the retries it has left — for input that no
 * retry can fix. The job goes straight to `failed`.
 */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError'
  readonly [BRAND] = 'PermanentError'
}

export function isPermanentError(value: unknown): value is PermanentError {
  return brandOf(value) === 'PermanentError'
}

/**
 * Thrown by a handler to run its job again after `delay`, without spending an attempt — for "not
 * yet" rather than "went wrong" (a resource not ready, a rate limit hit). The job goes to
 * `scheduled` and is promoted when the delay has passed.
 */
export class SnoozeError extends Error {
  override readonly name: string = 'SnoozeError'
  readonly [BRAND] = 'SnoozeError'
  readonly delayMs: number

  constructor(delay: Duration, message?: string) {
    const delayMs = parseDuration(delay, 'snooze delay')
    super(message ?? `snoozed for ${delayMs} ms`)
    this.delayMs = delayMs
  }
}

export function isSnoozeError(value: unknown): value is SnoozeError {
  return brandOf(value) === 'SnoozeError'
}

/** Why a handler's `signal` fired. */
export type AbortKind =
  /** The job's `timeout` elapsed; the attempt fails and may be retried. */
  | 'timeout'
  /** Someone cancelled the job; it will not run again unless retried by hand. */
  | 'cancelled'
  /** The worker is shutting down; the job goes back to the queue without spending the attempt. */
  | 'shutdown'
  /** The worker lost its lease (it stalled past the lease); the job was rescued elsewhere. */
  | 'lease-lost'

/** The `reason` on a handler's aborted `signal`. */
export class JobAbortError extends Error {
  override readonly name: string = 'JobAbortError'
  readonly [BRAND] = 'JobAbortError'
  constructor(
    readonly kind: AbortKind,
    message: string,
  ) {
    super(message)
  }
}

export function isJobAbortError(value: unknown): value is JobAbortError {
  return brandOf(value) === 'JobAbortError'
}
