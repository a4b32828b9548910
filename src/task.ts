import { resolveBreaker, type BreakerOptions, type ResolvedBreaker } from './breaker/breaker-options.js'
import { resolveBackoff, type Backoff, type BackoffFunction, type ResolvedBackoff } from './backoff.js'
import { checkName, checkNumber, checkOptions, checkWebhookUrl } from './config.js'
import { describe, parseDuration, type Duration } from './duration.js'
import { OffloadError } from './errors.js'
import type { Json } from './job.js'

/** What a handler gets besides its payload. */
export interface JobContext<P = unknown> {
  payload: P
  jobId: string
  task: string
  queue: string
  /** The attempt now running, from 1. With `jobId`, a key for making side effects idempotent. */
  attempt: number
  maxAttempts: number
  metadata: Record<string, Json>
  /**
   * Fires on timeout, cancellation, worker shutdown and a lost lease; `signal.reason` is a
   * `JobAbortError` saying which. Pass it to `fetch`, streams and timers so work stops promptly.
   */
  signal: AbortSignal
  /** Stores the job's progress (a percentage, or any JSON) and appends a `progress` event. */
  progress(value: Json): Promise<void>
  /** Appends a line to the job's event log. */
  log(message: string): Promise<void>
}

export type TaskHandler<P, R> = (payload: P, ctx: JobContext<P>) => Promise<R> | R

/** How a task runs and the defaults its jobs get. Each default can be overridden per enqueue. */
export interface TaskOptions<P, R> {
  run: TaskHandler<P, R>
  /** @defaultValue `'default'` */
  queue?: string
  /** Total attempts, the first run included. @defaultValue 5 */
  attempts?: number
  /** @defaultValue exponential: base `'1s'`, factor 2, max `'1h'`, jitter 0.5 */
  backoff?: Backoff
  /** Abort the handler and fail the attempt after this long. @defaultValue none */
  timeout?: Duration
  /** Higher runs first within a queue. @defaultValue 0 */
  priority?: number
  /** How long an idempotency key stays held after its job finished. @defaultValue 0 */
  keyTtl?: Duration
  /** The completion webhook of every job of this task that names none (an http(s) URL). @defaultValue none */
  webhook?: string
  /**
   * A circuit breaker for the task's jobs (see `BreakerOptions`); `true` for the defaults.
   * @defaultValue none
   */
  breaker?: BreakerOptions | true
}

/** A validated task: name, handler and resolved defaults. Made by `defineTask` or `offload.task`. */
export interface TaskDefinition<P = unknown, R = unknown> {
  readonly kind: 'offload.task'
  readonly name: string
  readonly queue: string
  readonly attempts: number
  /** Undefined when the task uses the default policy. */
  readonly backoff: ResolvedBackoff | BackoffFunction | undefined
  readonly timeoutMs: number | undefined
  readonly priority: number
  readonly keyTtlMs: number
  readonly webhook: string | undefined
  /** Undefined when the task has no circuit breaker. */
  readonly breaker: ResolvedBreaker | undefined
  readonly run: TaskHandler<P, R>
}

export const DEFAULT_QUEUE = 'default'
export const DEFAULT_ATTEMPTS = 5
const TASK_OPTIONS = ['run', 'queue', 'attempts', 'backoff', 'timeout', 'priority', 'keyTtl', 'webhook', 'breaker'] as const

/**
 * Defines a task without binding it to an Offload instance, so one module can declare tasks that
 * a producer, a worker process and the `offload` CLI all load. Payload and result types flow from
 * `run`'s signature to `enqueue()` and `result()`.
 */
export function defineTask<P = void, R = void>(name: string, options: TaskOptions<P, R>): TaskDefinition<P, R> {
  checkName(name, 'task')
  if (typeof options !== 'object' || options === null) {
    throw new OffloadError('INVALID_OPTION', `task '${name}' needs an options object with a run function, got ${describe(options)}`, {
      option: 'options',
    })
  }
  const where = `task '${name}'`
  checkOptions(options, TASK_OPTIONS, where)
  if (typeof options.run !== 'function') {
    throw new OffloadError('INVALID_OPTION', `${where} needs a run function, got ${describe(options.run)}`, { option: 'run' })
  }
  return Object.freeze({
    kind: 'offload.task',
    name,
    queue: options.queue === undefined ? DEFAULT_QUEUE : checkName(options.queue, 'queue'),
    attempts: options.attempts === undefined ? DEFAULT_ATTEMPTS : checkAttempts(options.attempts, `${where} attempts`),
    backoff:
      options.backoff === undefined ? undefined
      : typeof options.backoff === 'function' ? options.backoff
      : resolveBackoff(options.backoff, `${where} backoff`),
    timeoutMs: options.timeout === undefined ? undefined : checkTimeout(options.timeout, `${where} timeout`),
    priority: options.priority === undefined ? 0 : checkPriority(options.priority, `${where} priority`),
    keyTtlMs: options.keyTtl === undefined ? 0 : parseDuration(options.keyTtl, `${where} keyTtl`),
    webhook: options.webhook === undefined ? undefined : checkWebhookUrl(options.webhook, `${where} webhook`),
    breaker: options.breaker === undefined ? undefined : resolveBreaker(options.breaker, where),
    run: options.run,
  } satisfies TaskDefinition<P, R>)
}

export function isTaskDefinition(value: unknown): value is TaskDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'offload.task'
}

export function checkAttempts(value: unknown, what: string): number {
  return checkNumber(value, what, { integer: true, min: 1, max: 1_000_000 })
}

export function checkPriority(value: unknown, what: string): number {
  return checkNumber(value, what, { integer: true, min: -1_000_000, max: 1_000_000 })
}

export function checkTimeout(value: unknown, what: string): number {
  const ms = parseDuration(value, what)
  if (ms === 0) throw new OffloadError('INVALID_OPTION', `${what} must be longer than 0 ms`, { option: what })
  return ms
}
