import type { BackoffOptions } from './backoff.js'
import type { Duration } from './duration.js'

/** A value JSON carries faithfully: what payloads, results, metadata and progress may hold. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * Where a job is in its life. `scheduled` and `retrying` wait for their run time; `queued` is
 * ready to claim; `completed`, `failed` and `cancelled` are final (until a manual retry).
 */
export type JobState =
  | 'scheduled'
  | 'queued'
  | 'running'
  | 'retrying'
  | 'completed'
  | 'failed'
  | 'cancelled'

export const JOB_STATES: readonly JobState[] = [
  'scheduled',
  'queued',
  'running',
  'retrying',
  'completed',
  'failed',
  'cancelled',
]

export const FINISHED_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled']
export const UNFINISHED_STATES: readonly JobState[] = ['scheduled', 'queued', 'running', 'retrying']

export function isFinished(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled'
}

/** One failed attempt, as stored with the job. */
export interface AttemptError {
  attempt: number
  at: Date
  name: string
  message: string
  stack?: string
}

/** A job as the store holds it. `P` is the payload type, `R` the result type. */
export interface JobInfo<P = unknown, R = unknown> {
  /** A UUIDv7: unique across stores, sortable by creation time. */
  id: string
  task: string
  queue: string
  state: JobState
  payload: P
  /** Set once the job completed. */
  result?: R
  metadata: Record<string, Json>
  /** Higher runs first among ready jobs of one queue. */
  priority: number
  /** Attempts spent so far; the running attempt counts. */
  attempt: number
  maxAttempts: number
  /** When the job becomes (or became) ready to run. */
  runAt: Date
  createdAt: Date
  /** When the latest attempt started. */
  startedAt?: Date
  /** When the job reached `completed`, `failed` or `cancelled`. */
  finishedAt?: Date
  /** The latest value a handler reported through `ctx.progress()`. */
  progress?: Json
  /** Each failed attempt's error, oldest first. */
  errors: AttemptError[]
  /** While the job is `failed`: its last error's fingerprint, which names its failure group (see `errorFingerprint`). */
  errorFingerprint?: string
  key?: string
  /** The job's group: claims take a queue's groups in turn, and a queue may cap how many of one group run at once. */
  group?: string
  timeoutMs?: number
  backoff?: BackoffOptions
  /** The URL told when the job finishes (`webhook` at enqueue, or the task's default). */
  webhook?: string
  /** The worker that holds the job while it runs. */
  workerId?: string
  leaseExpiresAt?: Date
}

/** What happened to a job; one row of its event log. */
export type JobEventType =
  /** Created, in `queued` or `scheduled`. */
  | 'enqueued'
  /** `scheduled` or `retrying` reached its run time and became `queued`. */
  | 'promoted'
  /** Claimed by a worker: `running`, attempt N. */
  | 'started'
  | 'completed'
  /** An attempt failed with attempts left: `retrying` until the backoff elapses. */
  | 'retrying'
  /** The last attempt failed, or a handler threw `PermanentError`. */
  | 'failed'
  /** The handler asked to run again later: `scheduled`, attempt not spent. */
  | 'snoozed'
  /** A worker shut down and gave the job back: `queued`, attempt not spent. */
  | 'released'
  /** A worker's lease expired (it died or stalled): `queued` again, or `failed` without attempts. */
  | 'rescued'
  | 'cancelled'
  /** A manual retry of a failed or cancelled job: `queued` with a fresh set of attempts. */
  | 'retried'
  | 'progress'
  | 'log'
  /** A completion webhook delivery attempt: `data` says where, how it went and whether more follow. */
  | 'webhook'

export interface JobEvent {
  /** Increases with every event across the store: a cursor for following the log. */
  seq: number
  jobId: string
  task: string
  queue: string
  at: Date
  type: JobEventType
  /** The job's state after the event (progress and log events leave it unchanged). */
  state: JobState
  attempt: number
  data?: Record<string, Json>
}

/** Options for one enqueue. Task definitions supply the defaults for most of them. */
export interface EnqueueOptions {
  /** Run no earlier than this long from now. */
  delay?: Duration
  /** Run no earlier than this time. Mutually exclusive with `delay`. */
  runAt?: Date
  /** Higher runs first among ready jobs in the queue. Integer; default from the task, else 0. */
  priority?: number
  /** Total attempts, first run included. Default from the task, else 5. */
  attempts?: number
  backoff?: BackoffOptions
  /** Abort the handler's signal and fail the attempt after this long. */
  timeout?: Duration
  /**
   * Idempotency key, unique per task while a job holding it is unfinished (and for `keyTtl` after).
   * A second enqueue with a held key returns the existing job with `existing: true`.
   */
  key?: string
  /** How long a key stays held after its job finished. Default from the task, else 0. */
  keyTtl?: Duration
  /** Free-form JSON stored with the job. */
  metadata?: Record<string, Json>
  /** Override the task's queue for this job. */
  queue?: string
  /**
   * The job's group — a customer, a tenant, an account (at most 255 characters). Claims take a
   * queue's grouped jobs round-robin between groups, so one group's backlog never starves another,
   * and the queue's `groupConcurrency` caps how many of one group run at once.
   */
  group?: string
  /**
   * An http(s) URL that gets the job's outcome, signed, each time it finishes (completed, failed
   * or cancelled). Default from the task. Needs a signing secret: `webhooks.secret` in the config
   * or `OFFLOAD_WEBHOOK_SECRET`.
   */
  webhook?: string
  /**
   * Enqueue inside a transaction your application holds (stores with `transactionalEnqueue`, i.e.
   * PostgreSQL): a `pg` client on which you ran `BEGIN`. The job exists if and only if that
   * transaction commits, and workers hear of it at the commit. All jobs of one `enqueueMany` call
   * must name the same client.
   */
  transaction?: TransactionClient
  /**
   * Debounce: one job stands for a burst of enqueues with this key (per task). While that job has
   * not started yet — it waits `delay` — each such enqueue replaces its payload and options and
   * pushes its run time back to `delay` from now, and returns it with `existing: true`: the latest
   * payload wins. Once it is due, the next enqueue creates a new job. `maxWait` caps how long a
   * steady stream of enqueues can hold it back (from its first enqueue). Not with `key`, `delay`,
   * `runAt`, `throttle` or `transaction`, and one job per call.
   */
  debounce?: { key: string; delay: Duration; maxWait?: Duration }
  /**
   * Throttle: at most one job per key (per task) per `window`. An enqueue within the window of the
   * last job the key created returns that job with `existing: true` and creates none; after it, a
   * new job opens a new window. Not with `key`, `debounce` or `transaction`, and one job per call.
   */
  throttle?: { key: string; window: Duration }
  /**
   * Cancels the enqueue while it waits for room in a full queue (`whenFull: 'wait'`): it rejects
   * with `ABORTED` and writes nothing.
   */
  signal?: AbortSignal
}

/** The part of a `pg` client (`Client` or a pool's `PoolClient`) a transactional enqueue uses. */
export interface TransactionClient {
  query: (...args: never[]) => unknown
}
