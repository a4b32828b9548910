import { resolveBackoff, type BackoffOptions, type ResolvedBackoff } from './backoff.js'
import { breakerNotFound, checkBreakerReset, type ResetBreakerOptions } from './breaker/breaker-options.js'
import { checkBoolean, checkName, checkNumber, checkObject, checkOptions, checkString, checkWebhookUrl, closest } from './config.js'
import { describe, parseDuration, type Duration } from './duration.js'
import { checkEnqueueFlow } from './enqueue-flow.js'
import { isOffloadError, OffloadError } from './errors.js'
import { uuidv7 } from './ids.js'
import { JobHandle, type JobOperations, type ResultOptions } from './job-handle.js'
import { JobWatcher } from './job-watcher.js'
import { toJson } from './json.js'
import { JOB_STATES, type EnqueueOptions, type JobEvent, type JobInfo, type JobState, type TransactionClient } from './job.js'
import { consoleLogger, silentLogger, type Logger } from './logger.js'
import { Maintenance, type MaintenanceSettings } from './maintenance/maintenance.js'
import { QueueRoom, resolveQueueWaits } from './queue-room.js'
import { openStore } from './store/open-store.js'
import { checkSchedule, pausedWrite, scheduleWrite, type CheckedSchedule, type ScheduleOptions } from './schedules/schedule-options.js'
import type {
  BreakerInfo,
  FailureGroup,
  JobCount,
  JobInsert,
  JobInsertManyParams,
  JobInsertResult,
  QueueInfo,
  QueueLimits,
  ScheduleInfo,
  ScheduleSource,
  Store,
  WorkerInfo,
} from './store/store.js'
import {
  checkAttempts,
  checkPriority,
  checkTimeout,
  defineTask,
  isTaskDefinition,
  type TaskDefinition,
  type TaskOptions,
} from './task.js'
import { WEBHOOK_QUEUE, webhookDeliveryTask, webhookDeliveryTemplate } from './webhooks/delivery.js'
import { defaultWorkerId, Worker, WORKER_ALIVE_MS, type WorkerSettings } from './worker/worker.js'

export const DEFAULT_STORE = 'sqlite:./data/offload.db'

export interface OffloadConfig {
  /**
   * Where jobs live: a URL or a `Store`. `sqlite:<path>` is the embedded store (the file and its
   * folder are created), `sqlite::memory:` a private in-memory one for tests.
   * @defaultValue `process.env.OFFLOAD_STORE`, else `'sqlite:./data/offload.db'`
   */
  store?: string | Store
  /** Apply pending schema migrations on first use. @defaultValue true */
  migrate?: boolean
  /** Tasks to define at once, as made by `defineTask`. */
  tasks?: readonly TaskDefinition<any, any>[]
  /** The largest payload accepted, in bytes of serialised JSON. @defaultValue 1048576 (1 MiB) */
  maxPayloadSize?: number
  /** How long finished jobs are kept before maintenance deletes them, per final state. */
  retention?: {
    /** @defaultValue `'24h'` */
    completed?: Duration
    /** @defaultValue `'7d'` */
    failed?: Duration
    /** @defaultValue `'24h'` */
    cancelled?: Duration
  }
  /** Timing of the maintenance leader's duties. */
  maintenance?: {
    /** How long leadership lasts without renewal; a dead leader is replaced within it. @defaultValue `'10s'` */
    leaderTtl?: Duration
    /** The longest the promoter sleeps; it also wakes at each job's run time. @defaultValue `'1s'` */
    promoteInterval?: Duration
    /** How often expired leases are looked for. @defaultValue `'5s'` */
    rescueInterval?: Duration
    /** How often old finished jobs are pruned. @defaultValue `'1m'` */
    pruneInterval?: Duration
  }
  /** Where warnings go; `false` for silence. @defaultValue warnings and errors to stderr */
  logger?: Logger | false
  /** Settings per queue, by queue name. */
  queues?: Record<string, QueueOptions>
  /** Completion webhooks: how they are signed and delivered. */
  webhooks?: WebhookOptions
  /**
   * Cron schedules declared in code, by name. Checked now; written to the store (created, or
   * updated where they changed) when a worker starts. See docs/schedules.md.
   */
  schedules?: Record<string, ScheduleOptions>
}

export interface QueueOptions {
  /**
   * Backpressure: the most jobs the queue may hold in `queued` (ready, waiting for a worker). An
   * enqueue that would go past it is refused with `QueueFullError` (HTTP `429`) and writes
   * nothing. Checked by every producer that has this setting, at the store. @defaultValue no cap
   */
  maxQueued?: number
  /**
   * At most this many of the queue's jobs running at once, across every worker on every machine
   * (jobs a worker has claimed ahead count as running). Every process that works the queue must
   * have the same setting. @defaultValue no limit
   */
  concurrency?: number
  /**
   * At most `limit` of the queue's jobs start per `interval`, across every worker: windows are
   * fixed, aligned to the epoch (`{ limit: 100, interval: '1m' }` allows 100 starts from 12:00:00
   * to 12:00:59.999). Workers claim no jobs ahead from a rate-limited queue, so a start is when
   * the job runs. @defaultValue no limit
   */
  rateLimit?: { limit: number; interval: Duration }
  /**
   * At most this many jobs of one group (`group` at enqueue, e.g. a customer id) running at once,
   * across every worker. Grouped jobs are taken round-robin between groups whether or not this is
   * set. @defaultValue no limit
   */
  groupConcurrency?: number
  /**
   * What an enqueue into the queue at its `maxQueued` does: `'reject'` throws `QueueFullError` at
   * once; `'wait'` waits for room (retrying as jobs finish and workers take jobs) for up to
   * `fullTimeout`, then throws it. An HTTP request waits too, then answers 429. @defaultValue `'reject'`
   */
  whenFull?: 'reject' | 'wait'
  /** With `whenFull: 'wait'`, the longest an enqueue waits for room. @defaultValue `'30s'` */
  fullTimeout?: Duration
}

export interface WebhookOptions {
  /**
   * The HMAC-SHA256 key that signs every delivery (`Offload-Signature`); receivers verify with
   * `verifyWebhookSignature`. At least 16 characters. Enqueueing a job with a webhook needs it.
   * @defaultValue `process.env.OFFLOAD_WEBHOOK_SECRET`
   */
  secret?: string
  /** Delivery attempts before the delivery job is `failed` (dead). @defaultValue 8 */
  attempts?: number
  /** How long one delivery waits for the receiver's answer. @defaultValue `'10s'` */
  timeout?: Duration
  /** Waits between delivery attempts. @defaultValue exponential from `'2s'`, factor 3, max `'1h'` */
  backoff?: BackoffOptions
}

export interface WorkOptions {
  /** Jobs run at once by this worker. @defaultValue 10 */
  concurrency?: number
  /**
   * Queues to claim from. A list given here delivers completion webhooks only if it names
   * `'offload.webhooks'`. @defaultValue every queue of the defined tasks, and `'offload.webhooks'`
   */
  queues?: readonly string[]
  /** Most jobs claimed in one round trip. @defaultValue `concurrency` */
  batchSize?: number
  /**
   * Most jobs claimed ahead of free slots, so a slot that frees finds its next job waiting
   * rather than a round trip away. The worker holds only as many as its handlers finish during
   * one claim round trip (none while handlers are slower than that). It also bounds the outcomes
   * not yet written: up to `concurrency + prefetch` of them, beyond which no job starts until
   * they are. `0` turns claiming ahead off. @defaultValue 200
   */
  prefetch?: number
  /**
   * How long a claim holds without a heartbeat. A worker that dies loses its jobs to the rescuer
   * after at most this plus `maintenance.rescueInterval`. @defaultValue `'15s'`
   */
  leaseDuration?: Duration
  /** How often held leases are renewed; also how fast a cancel from another process arrives. @defaultValue a third of `leaseDuration` */
  heartbeatInterval?: Duration
  /** The fallback poll when no store note arrives. @defaultValue `'1s'` */
  pollInterval?: Duration
  /** On stop, how long running jobs may take before they are aborted and handed back. @defaultValue `'10s'` */
  shutdownGrace?: Duration
  /** Take part in maintenance (promote, rescue, prune) under leader election. @defaultValue true */
  maintenance?: boolean
  /** On SIGINT or SIGTERM, stop gracefully and close the instance; a second signal skips the grace. @defaultValue true */
  handleSignals?: boolean
  /** Stops the worker gracefully when aborted. */
  signal?: AbortSignal
  /** Names the worker in leases and events. @defaultValue `<host>:<pid>:<random>` */
  id?: string
}

/** One job for `enqueueMany`. */
export interface EnqueueItem {
  task: string
  payload?: unknown
  options?: EnqueueOptions
}

export interface ListJobsOptions {
  state?: JobState | readonly JobState[]
  queue?: string
  task?: string
  /** Only jobs with this idempotency key, of any task (its key held or not). */
  key?: string
  /** Only the `failed` jobs of one failure group: a fingerprint from `listFailureGroups`. */
  fingerprint?: string
  /** @defaultValue 50, at most 1000 */
  limit?: number
  /** `nextCursor` from the previous page. */
  cursor?: string
}

export interface ListFailureGroupsOptions {
  /** Only the failed jobs of this queue… */
  queue?: string
  /** …and of this task. */
  task?: string
  /** @defaultValue 50, at most 1000 */
  limit?: number
}

export interface RetryFailureGroupOptions {
  /** Only the group's jobs in this queue… */
  queue?: string
  /** …and of this task. */
  task?: string
}

export interface ListWorkersOptions {
  /**
   * Workers whose last beat is older than this count as gone: they died (a worker that stops
   * cleanly leaves at once). Workers beat on their heartbeat interval, at least every 5 s.
   * @defaultValue `'15s'`, three missed beats
   */
  aliveWithin?: Duration
}

export interface JobPage {
  jobs: JobInfo[]
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string
}

/** A task bound to an Offload instance: enqueue with its payload type, get handles typed by its result. */
export interface Task<P, R> {
  readonly definition: TaskDefinition<P, R>
  readonly name: string
  readonly queue: string
  enqueue(payload: P, options?: EnqueueOptions): Promise<JobHandle<P, R>>
  /** Creates all jobs in one transaction: all or none. */
  enqueueMany(jobs: readonly { payload: P; options?: EnqueueOptions }[]): Promise<JobHandle<P, R>[]>
}

const CONFIG_OPTIONS = ['store', 'migrate', 'tasks', 'maxPayloadSize', 'retention', 'maintenance', 'logger', 'queues', 'webhooks', 'schedules'] as const
const QUEUE_OPTIONS = ['maxQueued', 'whenFull', 'fullTimeout', 'concurrency', 'rateLimit', 'groupConcurrency'] as const
const RATE_LIMIT_OPTIONS = ['limit', 'interval'] as const
/** A group name's longest: a customer or tenant id, not a document. */
const MAX_GROUP_LENGTH = 255
const WEBHOOK_OPTIONS = ['secret', 'attempts', 'timeout', 'backoff'] as const
const RETENTION_OPTIONS = ['completed', 'failed', 'cancelled'] as const
const MAINTENANCE_OPTIONS = ['leaderTtl', 'promoteInterval', 'rescueInterval', 'pruneInterval'] as const
/** Claiming ahead pays only for handlers faster than a claim's round trip; 200 covers no-op jobs on PostgreSQL. */
const DEFAULT_PREFETCH = 200
const WORK_OPTIONS = [
  'concurrency', 'queues', 'batchSize', 'prefetch', 'leaseDuration', 'heartbeatInterval', 'pollInterval',
  'shutdownGrace', 'maintenance', 'handleSignals', 'signal', 'id',
] as const
const ENQUEUE_OPTIONS = [
  'delay', 'runAt', 'priority', 'attempts', 'backoff', 'timeout', 'key', 'keyTtl', 'metadata', 'queue', 'transaction', 'webhook', 'group',
  'debounce', 'throttle', 'signal',
] as const
const LIST_OPTIONS = ['state', 'queue', 'task', 'key', 'fingerprint', 'limit', 'cursor'] as const
const FAILURE_GROUPS_OPTIONS = ['queue', 'task', 'limit'] as const
const RETRY_GROUP_OPTIONS = ['queue', 'task'] as const
const LIST_WORKERS_OPTIONS = ['aliveWithin'] as const
/** Jobs a group retry moves per transaction: large enough to be quick, small enough not to hold locks long. */
const RETRY_GROUP_CHUNK = 1000
const FINGERPRINT_PATTERN = /^[0-9a-f]{16}$/
/** The longest idempotency key (and debounce or throttle key). */
export const MAX_KEY_LENGTH = 512
/** The longest `delay` an enqueue takes: ten years. */
export const MAX_DELAY_MS = 10 * 365 * 86_400_000
/** 9999-12-31T23:59:59.999Z: later run times are refused, since not every store's time column holds them. */
const MAX_RUN_AT_MS = 253_402_300_799_999

/** Creates an Offload instance. Options are validated now: a typo fails here, not at the first job. */
export function createOffload(config: OffloadConfig = {}): Offload {
  return new Offload(config)
}

/**
 * The object an application holds: define tasks, enqueue jobs, run workers, inspect and steer
 * jobs. Safe to share across a process; `close()` it on the way out.
 */
export class Offload {
  readonly store: Store
  private readonly ownsStore: boolean
  private readonly autoMigrate: boolean
  private readonly maxPayloadSize: number
  private readonly logger: Logger
  private readonly definitions = new Map<string, TaskDefinition<unknown, unknown>>()
  /**
   * What workers run: the defined tasks and Offload's own (webhook delivery). Kept apart from
   * `definitions` so an internal task can be neither enqueued by hand (a delivery names any URL
   * and job) nor listed as the application's.
   */
  private readonly runnable = new Map<string, TaskDefinition<any, any>>()
  private readonly maintenanceSettings: Omit<MaintenanceSettings, 'owner' | 'webhookDelivery'>
  private readonly watcher: JobWatcher
  private readonly workers = new Set<Worker>()
  private readonly ops: JobOperations
  private readonly maxQueued: ReadonlyMap<string, number> | undefined
  /** Claims' limits by queue, for every worker of this instance. */
  private readonly queueLimits: ReadonlyMap<string, QueueLimits> | undefined
  private readonly room: QueueRoom
  /** Aborted by `close()`: enqueues waiting for room in a full queue stop waiting. */
  private readonly closed = new AbortController()
  /** Resolved `webhooks` settings; `secret` undefined when none is configured. */
  readonly webhookSettings: WebhookSettings
  private maintenance: Maintenance | undefined
  /** The schedules of `config.schedules`, checked; written by the first `work()`. */
  private readonly declaredSchedules: readonly CheckedSchedule[]
  private schedulesDeclared: Promise<void> | undefined
  private readyPromise: Promise<void> | undefined
  private closing: Promise<void> | undefined

  constructor(config: OffloadConfig) {
    checkObject(config, 'createOffload() options')
    checkOptions(config, CONFIG_OPTIONS, 'createOffload()')
    this.logger = config.logger === false ? silentLogger : (config.logger ?? consoleLogger)
    this.autoMigrate = config.migrate === undefined ? true : checkBoolean(config.migrate, 'migrate')
    this.maxPayloadSize =
      config.maxPayloadSize === undefined ? 1024 * 1024 : checkNumber(config.maxPayloadSize, 'maxPayloadSize', { integer: true, min: 1 })
    const retention = config.retention === undefined ? {} : checkObject(config.retention, 'retention')
    checkOptions(retention, RETENTION_OPTIONS, 'retention')
    const maintenance = config.maintenance === undefined ? {} : checkObject(config.maintenance, 'maintenance')
    checkOptions(maintenance, MAINTENANCE_OPTIONS, 'maintenance')
    const duration = (value: unknown, fallback: string, what: string): number => parseDuration(value ?? fallback, what)
    this.maintenanceSettings = {
      leaderTtlMs: duration(maintenance.leaderTtl, '10s', 'maintenance.leaderTtl'),
      promoteIntervalMs: duration(maintenance.promoteInterval, '1s', 'maintenance.promoteInterval'),
      rescueIntervalMs: duration(maintenance.rescueInterval, '5s', 'maintenance.rescueInterval'),
      pruneIntervalMs: duration(maintenance.pruneInterval, '1m', 'maintenance.pruneInterval'),
      retentionMs: {
        completed: duration(retention.completed, '24h', 'retention.completed'),
        failed: duration(retention.failed, '7d', 'retention.failed'),
        cancelled: duration(retention.cancelled, '24h', 'retention.cancelled'),
      },
    }
    const queueSettings = resolveQueueOptions(config.queues)
    this.maxQueued = queueSettings.caps
    this.queueLimits = queueSettings.limits
    const queueWaits = resolveQueueWaits(config.queues)
    this.webhookSettings = resolveWebhookOptions(config.webhooks)
    // Before the application's tasks, so a task of the same name is refused as a duplicate.
    const delivery = webhookDeliveryTask(this)
    this.runnable.set(delivery.name, delivery)
    const tasks = config.tasks === undefined ? [] : config.tasks
    if (!Array.isArray(tasks)) throw new OffloadError('INVALID_OPTION', `tasks must be an array of task definitions, got ${describe(tasks)}`, { option: 'tasks' })
    for (const definition of tasks) this.register(definition)
    const schedules = config.schedules === undefined ? {} : checkObject(config.schedules, 'schedules')
    this.declaredSchedules = Object.entries(schedules).map(([name, options]) => checkSchedule(name, options))

    const store = config.store ?? process.env.OFFLOAD_STORE ?? DEFAULT_STORE
    this.ownsStore = typeof store === 'string'
    this.store = typeof store === 'string' ? openStore(store) : store
    this.room = new QueueRoom(this.store, queueWaits)
    this.watcher = new JobWatcher(this.store, this.store.capabilities.listen ? 1000 : 250, this.logger)
    this.ops = {
      getJob: (id) => this.getJob(id),
      cancelJob: (id) => this.cancelJob(id),
      retryJob: (id) => this.retryJob(id),
      waitForJob: (id, options, timeoutName) => this.awaitFinished(id, options, timeoutName),
    }
  }

  /** The defined tasks, by name. */
  get tasks(): ReadonlyMap<string, TaskDefinition<unknown, unknown>> {
    return this.definitions
  }

  /**
   * Defines a task (or registers one made by `defineTask`) and returns it bound to this instance.
   * Payload and result types flow from `run` to `enqueue()` and `result()`.
   */
  task<P = void, R = void>(name: string, options: TaskOptions<P, R>): Task<P, R>
  task<P, R>(definition: TaskDefinition<P, R>): Task<P, R>
  task<P, R>(nameOrDefinition: string | TaskDefinition<P, R>, options?: TaskOptions<P, R>): Task<P, R> {
    const definition = typeof nameOrDefinition === 'string' ? defineTask(nameOrDefinition, options!) : nameOrDefinition
    this.register(definition)
    return {
      definition,
      name: definition.name,
      queue: definition.queue,
      enqueue: (payload, enqueueOptions) =>
        this.enqueue(definition.name, payload, enqueueOptions) as Promise<JobHandle<P, R>>,
      enqueueMany: (jobs) =>
        this.enqueueMany(jobs.map((job) => ({ task: definition.name, payload: job.payload, options: job.options }))) as Promise<
          JobHandle<P, R>[]
        >,
    }
  }

  private register(definition: TaskDefinition<any, any>): void {
    if (!isTaskDefinition(definition)) {
      throw new OffloadError('INVALID_OPTION', `expected a task definition made by defineTask(), got ${describe(definition)}`, {
        option: 'task',
      })
    }
    const existing = this.runnable.get(definition.name)
    if (existing === definition) return
    if (existing !== undefined) {
      throw new OffloadError('DUPLICATE_TASK', `task '${definition.name}' is already defined`, { task: definition.name })
    }
    this.definitions.set(definition.name, definition)
    this.runnable.set(definition.name, definition)
  }

  // ─── Enqueue ──────────────────────────────────────────────────────────────────────────────────

  /** Enqueues one job of a task defined on this instance. Resolves once the job is durable. */
  async enqueue(task: string, payload?: unknown, options?: EnqueueOptions): Promise<JobHandle> {
    const [handle] = await this.enqueueMany([{ task, payload, options }])
    return handle!
  }

  /**
   * Enqueues jobs of any defined tasks in one transaction: every job is validated first, then all
   * are written or none. Handles come back in input order.
   */
  async enqueueMany(items: readonly EnqueueItem[]): Promise<JobHandle[]> {
    const { results } = await this.insert(items)
    return results.map((result) => new JobHandle(this.ops, result.id, result.state, result.existing))
  }

  /**
   * `enqueueMany` for the HTTP API, which answers with the job itself: a new job is described from
   * what was written (no read back), a key holder is read from the store.
   * @internal
   */
  async submit(items: readonly EnqueueItem[], signal?: AbortSignal): Promise<{ job: JobInfo; existing: boolean }[]> {
    const { inserts, results, now } = await this.insert(items, signal)
    return Promise.all(
      results.map(async (result, index) => {
        if (result.existing) {
          const job = await this.store.jobGet({ id: result.id })
          // Pruned between the insert and this read: the holder is gone, so describe it by its id.
          if (job !== undefined) return { job, existing: true }
        }
        return { job: describeInsert(items[index]!, inserts[index]!, result.id, result.state, now), existing: result.existing }
      }),
    )
  }

  private async insert(items: readonly EnqueueItem[], signal?: AbortSignal): Promise<{ inserts: JobInsert[]; results: JobInsertResult[]; now: number }> {
    if (!Array.isArray(items)) {
      throw new OffloadError('INVALID_OPTION', `enqueueMany() takes an array of { task, payload, options }, got ${describe(items)}`, {
        option: 'jobs',
      })
    }
    const now = Date.now()
    const inserts = items.map((item, index) => this.prepare(item, items.length > 1 ? index : undefined, now))
    const transaction = this.transactionOf(items)
    const flow = checkEnqueueFlow(items.length === 1 ? (items[0]!.options ?? {}) : {})
    if (items.length > 1) refuseFlowBatch(items)
    this.assertOpen()
    await this.ready()
    const params: JobInsertManyParams = { jobs: inserts }
    if (transaction !== undefined) params.transaction = transaction
    if (this.maxQueued !== undefined) params.maxQueued = this.maxQueued
    const job = inserts[0]!
    // A debounced job's run time is the store's now plus the delay; describeInsert shows it so.
    if (flow?.kind === 'debounce') job.delayMs = flow.delayMs
    const attempt = (): Promise<JobInsertResult[]> =>
      flow === undefined
        ? this.store.jobInsertMany(params)
        : flow.kind === 'debounce'
          ? this.store.jobDebounce({ job, key: flow.key, delayMs: flow.delayMs, ...(flow.maxWaitMs === undefined ? {} : { maxWaitMs: flow.maxWaitMs }) }).then((result) => [result])
          : this.store.jobThrottle({ job, key: flow.key, windowMs: flow.windowMs, ...(params.maxQueued ? { maxQueued: params.maxQueued } : {}) }).then((result) => [result])
    const results = await this.room.insert(attempt, [this.closed.signal, signal, ...items.map((item) => item.options?.signal)])
    return { inserts, results, now }
  }

  /** The one application transaction the jobs of a call name, if any; items were checked by `prepare`. */
  private transactionOf(items: readonly EnqueueItem[]): TransactionClient | undefined {
    const named = items.map((item) => item.options?.transaction)
    const transaction = named[0]
    if (named.some((other) => other !== transaction)) {
      throw new OffloadError('INVALID_OPTION', 'all jobs of one enqueueMany() call must name the same transaction, or none', {
        option: 'transaction',
      })
    }
    if (transaction === undefined) return undefined
    if (!this.store.capabilities.transactionalEnqueue) {
      throw new OffloadError('INVALID_OPTION', `the store ${this.store.description} cannot join your transaction: use the PostgreSQL store`, {
        option: 'transaction',
      })
    }
    if (typeof (transaction as Partial<TransactionClient> | null)?.query !== 'function') {
      throw new OffloadError('INVALID_OPTION', `transaction must be a pg client inside the transaction to join, got ${describe(transaction)}`, {
        option: 'transaction',
      })
    }
    return transaction
  }

  /** Validates and serialises one job; throws before anything is written. */
  /**
   * Checks one job as `enqueue` would — task, options, webhook — except its payload, which is left
   * to the enqueue that serialises it; throws the `OffloadError` `enqueue` would. For the HTTP
   * batch route, which reports every bad job of a batch rather than the first.
   * @internal
   */
  checkEnqueueItem(item: EnqueueItem): void {
    this.prepare(item, undefined, Date.now(), false)
  }

  private prepare(item: EnqueueItem, index: number | undefined, now: number, withPayload = true): JobInsert {
    const at = index === undefined ? '' : ` (job ${index})`
    checkObject(item, `enqueueMany() item${at}`)
    const definition = this.definition(item.task)
    const options: EnqueueOptions = item.options === undefined ? {} : (checkObject(item.options, `enqueue options${at}`) as EnqueueOptions)
    checkOptions(options, ENQUEUE_OPTIONS, `enqueue options for '${definition.name}'${at}`)
    const payload = withPayload ? toJson(item.payload, `the payload of '${definition.name}'${at}`) : ''
    // A UTF-16 unit is at most 3 UTF-8 bytes: only long payloads need counting.
    if (payload.length * 3 > this.maxPayloadSize && Buffer.byteLength(payload) > this.maxPayloadSize) {
      throw new OffloadError(
        'PAYLOAD_TOO_LARGE',
        `the payload of '${definition.name}'${at} is ${Buffer.byteLength(payload)} bytes, over the ${this.maxPayloadSize}-byte limit`,
        { task: definition.name, size: Buffer.byteLength(payload), limit: this.maxPayloadSize },
      )
    }
    const insert: JobInsert = {
      id: uuidv7(now),
      task: definition.name,
      queue: options.queue === undefined ? definition.queue : checkName(options.queue, 'queue'),
      payload,
      priority: options.priority === undefined ? definition.priority : checkPriority(options.priority, 'priority'),
      maxAttempts: options.attempts === undefined ? definition.attempts : checkAttempts(options.attempts, 'attempts'),
    }
    if (options.delay !== undefined && options.runAt !== undefined) {
      throw new OffloadError('INVALID_OPTION', `give delay or runAt, not both${at}`, { option: 'delay' })
    }
    if (options.delay !== undefined) {
      insert.delayMs = parseDuration(options.delay, 'delay')
      // Past this a run time drifts out of what a Date and the stores' time columns can hold.
      if (insert.delayMs > MAX_DELAY_MS) throw new OffloadError('INVALID_OPTION', `delay must be at most 10 years, got ${describe(options.delay)}`, { option: 'delay' })
    }
    if (options.runAt !== undefined) {
      if (!(options.runAt instanceof Date) || Number.isNaN(options.runAt.getTime()) || Math.abs(options.runAt.getTime()) > MAX_RUN_AT_MS) {
        throw new OffloadError('INVALID_OPTION', `runAt must be a valid Date before the year 10000, got ${describe(options.runAt)}`, { option: 'runAt' })
      }
      insert.runAt = options.runAt.getTime()
    }
    if (options.backoff !== undefined) {
      if (typeof options.backoff === 'function') {
        throw new OffloadError('INVALID_OPTION', 'a backoff function can only be set on the task: per-job options are stored and must be JSON', {
          option: 'backoff',
        })
      }
      insert.backoff = resolveBackoff(options.backoff, 'backoff')
    }
    const timeoutMs = options.timeout === undefined ? definition.timeoutMs : checkTimeout(options.timeout, 'timeout')
    if (timeoutMs !== undefined) insert.timeoutMs = timeoutMs
    if (options.key !== undefined) {
      insert.key = checkString(options.key, 'key', MAX_KEY_LENGTH)
      const keyTtlMs = options.keyTtl === undefined ? definition.keyTtlMs : parseDuration(options.keyTtl, 'keyTtl')
      if (keyTtlMs > 0) insert.keyTtlMs = keyTtlMs
    } else if (options.keyTtl !== undefined) {
      throw new OffloadError('INVALID_OPTION', 'keyTtl needs a key', { option: 'keyTtl' })
    }
    if (options.metadata !== undefined) {
      insert.metadata = toJson(checkObject(options.metadata, 'metadata'), 'metadata')
    }
    if (options.group !== undefined) insert.group = checkString(options.group, `group${at}`, MAX_GROUP_LENGTH)
    checkEnqueueFlow(options, at)
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new OffloadError('INVALID_OPTION', `signal must be an AbortSignal, got ${describe(options.signal)}${at}`, { option: 'signal' })
    }
    const webhook = options.webhook === undefined ? definition.webhook : checkWebhookUrl(options.webhook, `webhook${at}`)
    if (webhook !== undefined) {
      if (this.webhookSettings.secret === undefined) {
        throw new OffloadError(
          'INVALID_OPTION',
          `a job with a webhook needs a signing secret: set webhooks.secret in createOffload() or OFFLOAD_WEBHOOK_SECRET${at}`,
          { option: 'webhook' },
        )
      }
      insert.webhook = webhook
    }
    return insert
  }

  private definition(task: unknown): TaskDefinition<unknown, unknown> {
    if (typeof task !== 'string') {
      throw new OffloadError('UNKNOWN_TASK', `a task name must be a string, got ${describe(task)}`, { task: null })
    }
    const definition = this.definitions.get(task)
    if (definition !== undefined) return definition
    const known = [...this.definitions.keys()]
    const suggestion = closest(task, known)
    throw new OffloadError(
      'UNKNOWN_TASK',
      `unknown task '${task}'` +
        (suggestion !== undefined ? `, did you mean '${suggestion}'?` : known.length === 0 ? ': no tasks are defined' : `; defined: ${known.join(', ')}`),
      { task, suggestion: suggestion ?? null },
    )
  }

  // ─── Inspect and steer ────────────────────────────────────────────────────────────────────────

  async getJob(id: string): Promise<JobInfo | undefined> {
    checkString(id, 'job id', 64)
    await this.ready()
    return this.store.jobGet({ id })
  }

  /** Cancels an unfinished job; a running one is aborted through its signal. */
  async cancelJob(id: string): Promise<JobInfo> {
    checkString(id, 'job id', 64)
    await this.ready()
    return this.store.jobCancel({ id })
  }

  /** Puts a failed or cancelled job back in its queue with a fresh set of attempts. */
  async retryJob(id: string): Promise<JobInfo> {
    checkString(id, 'job id', 64)
    await this.ready()
    return this.store.jobRetry({ id })
  }

  /**
   * Waits until a job is `completed`, `failed` or `cancelled` and resolves with it, whatever the
   * outcome (unlike `result()`, which rejects on failure). Rejects with `TIMEOUT` after `timeout`,
   * `ABORTED` when `signal` aborts, `JOB_NOT_FOUND` if there is no such job.
   */
  waitForJob(id: string, options: ResultOptions = {}): Promise<JobInfo> {
    checkString(id, 'job id', 64)
    return this.awaitFinished(id, options, 'timeout')
  }

  /** `waitForJob` and `result()` alike; `timeoutName` names the timeout in its error. */
  private async awaitFinished(id: string, options: ResultOptions, timeoutName: string): Promise<JobInfo> {
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, timeoutName)
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new OffloadError('INVALID_OPTION', `signal must be an AbortSignal, got ${describe(options.signal)}`, { option: 'signal' })
    }
    const controller = new AbortController()
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(TIMED_OUT), timeoutMs)
    const onAbort = (): void => controller.abort(options.signal!.reason)
    if (options.signal?.aborted) onAbort()
    else options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.ready()
      return await this.watcher.wait(id, controller.signal)
    } catch (error) {
      if (controller.signal.reason === TIMED_OUT && isOffloadError(error, 'ABORTED')) {
        throw new OffloadError('TIMEOUT', `job ${id} did not finish within ${timeoutMs} ms`, { id, timeoutMs })
      }
      throw error
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Deletes a finished job and its timeline now, without waiting for retention. Cancel an unfinished one first. */
  async deleteJob(id: string): Promise<void> {
    checkString(id, 'job id', 64)
    this.assertOpen()
    await this.ready()
    await this.store.jobDelete({ id })
  }

  /** Waits for any job by id; see `JobHandle.result()`. */
  result<R = unknown>(id: string, options?: ResultOptions): Promise<R> {
    return new JobHandle<unknown, R>(this.ops, id, 'queued').result(options)
  }

  /** Newest first, with keyset pagination: pass `nextCursor` back as `cursor`. */
  async listJobs(options: ListJobsOptions = {}): Promise<JobPage> {
    checkObject(options, 'listJobs() options')
    checkOptions(options, LIST_OPTIONS, 'listJobs()')
    const states = options.state === undefined ? undefined : typeof options.state === 'string' ? [options.state] : options.state
    for (const state of states ?? []) {
      if (!JOB_STATES.includes(state)) {
        const suggestion = closest(String(state), JOB_STATES)
        throw new OffloadError('INVALID_OPTION', `unknown job state ${describe(state)}` + (suggestion ? `, did you mean '${suggestion}'?` : ''), {
          option: 'state',
          suggestion: suggestion ?? null,
        })
      }
    }
    const limit = options.limit === undefined ? 50 : checkNumber(options.limit, 'limit', { integer: true, min: 1, max: 1000 })
    if (options.queue !== undefined) checkName(options.queue, 'queue')
    if (options.task !== undefined) checkName(options.task, 'task')
    if (options.cursor !== undefined) checkString(options.cursor, 'cursor', 64)
    if (options.key !== undefined) checkString(options.key, 'key', MAX_KEY_LENGTH)
    if (options.fingerprint !== undefined) checkFingerprint(options.fingerprint)
    await this.ready()
    const jobs = await this.store.jobList({
      states,
      queue: options.queue,
      task: options.task,
      key: options.key,
      fingerprint: options.fingerprint,
      before: options.cursor,
      limit,
    })
    return jobs.length === limit ? { jobs, nextCursor: jobs[jobs.length - 1]!.id } : { jobs }
  }

  // ─── Failure triage ───────────────────────────────────────────────────────────────────────────

  /**
   * Failed jobs grouped by the fingerprint of their last error (see `errorFingerprint`): the
   * largest group first, then the most recent. Each group says when it was first and last seen,
   * its tasks and queues, and the error of its most recent failure. List a group's jobs with
   * `listJobs({ fingerprint })`.
   */
  async listFailureGroups(options: ListFailureGroupsOptions = {}): Promise<FailureGroup[]> {
    checkObject(options, 'listFailureGroups() options')
    checkOptions(options, FAILURE_GROUPS_OPTIONS, 'listFailureGroups()')
    const limit = options.limit === undefined ? 50 : checkNumber(options.limit, 'limit', { integer: true, min: 1, max: 1000 })
    const scope = checkScope(options)
    await this.ready()
    return this.store.jobFailureGroups({ ...scope, limit })
  }

  /**
   * Retries every failed job of a failure group, each as `retryJob` would: back to its queue with a
   * fresh set of attempts. A job whose idempotency key another unfinished job holds now stays
   * failed. Jobs are retried a thousand per transaction. Jobs that join the group while it runs —
   * retried jobs failing again, say — wait for the next call: it stops after as many jobs as the
   * group held when it began.
   */
  async retryFailureGroup(fingerprint: string, options: RetryFailureGroupOptions = {}): Promise<{ retried: number }> {
    checkFingerprint(fingerprint)
    checkObject(options, 'retryFailureGroup() options')
    checkOptions(options, RETRY_GROUP_OPTIONS, 'retryFailureGroup()')
    const scope = checkScope(options)
    this.assertOpen()
    await this.ready()
    const [group] = await this.store.jobFailureGroups({ ...scope, fingerprint, limit: 1 })
    let left = group?.count ?? 0
    let retried = 0
    while (left > 0) {
      const limit = Math.min(RETRY_GROUP_CHUNK, left)
      const done = await this.store.jobRetryGroup({ ...scope, fingerprint, limit })
      retried += done
      left -= limit
      // Fewer than asked: no more of the group can be retried now (the rest hold keys in use).
      if (done < limit) break
    }
    return { retried }
  }

  // ─── Workers ──────────────────────────────────────────────────────────────────────────────────

  /**
   * The live worker processes of every host sharing the store — host, pid, queues, concurrency,
   * when each started and last beat — with the jobs each holds now. A worker that stops cleanly
   * leaves the list at once; one that dies drops out when its beats have been missing `aliveWithin`.
   */
  async listWorkers(options: ListWorkersOptions = {}): Promise<WorkerInfo[]> {
    checkObject(options, 'listWorkers() options')
    checkOptions(options, LIST_WORKERS_OPTIONS, 'listWorkers()')
    const aliveMs = options.aliveWithin === undefined ? WORKER_ALIVE_MS : parseDuration(options.aliveWithin, 'aliveWithin')
    await this.ready()
    return this.store.workerList({ aliveMs })
  }

  /** A job's event log, oldest first: its timeline. */
  async jobEvents(id: string): Promise<JobEvent[]> {
    checkString(id, 'job id', 64)
    await this.ready()
    return this.store.eventList({ jobId: id, limit: 10_000 })
  }

  /** Jobs per queue and state. */
  async countJobs(): Promise<JobCount[]> {
    await this.ready()
    return this.store.jobCounts()
  }

  // ─── Queues ───────────────────────────────────────────────────────────────────────────────────

  /** Every queue that holds jobs or was paused: counts by state, the oldest queued job, paused or not. */
  async listQueues(): Promise<QueueInfo[]> {
    await this.ready()
    return this.store.queueList()
  }

  /**
   * Stops every worker, in every process, from claiming jobs of `queue` until `resumeQueue`. Jobs
   * already running finish; enqueues are still accepted.
   */
  async pauseQueue(queue: string): Promise<void> {
    checkName(queue, 'queue')
    this.assertOpen()
    await this.ready()
    await this.store.queuePause({ queue })
  }

  /** Lets workers claim from a paused queue again; idle ones wake at once. */
  async resumeQueue(queue: string): Promise<void> {
    checkName(queue, 'queue')
    this.assertOpen()
    await this.ready()
    await this.store.queueResume({ queue })
  }

  // ─── Schedules ────────────────────────────────────────────────────────────────────────────────

  /**
   * Creates or replaces the cron schedule `name` (see docs/schedules.md). Its job options are
   * checked as `enqueue` checks them, so its task must be defined here. Changing the expression
   * or time zone moves its next run; anything else leaves it.
   */
  async schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo> {
    const checked = checkSchedule(name, options)
    return this.writeSchedule(checked, 'api')
  }

  /** Every schedule with its next and last run, by name. */
  async listSchedules(): Promise<ScheduleInfo[]> {
    await this.ready()
    return this.store.scheduleList()
  }

  async getSchedule(name: string): Promise<ScheduleInfo | undefined> {
    checkName(name, 'schedule')
    await this.ready()
    return this.store.scheduleGet({ name })
  }

  /**
   * Deletes a schedule; the jobs it enqueued stay. False when there was none. A schedule still
   * declared in code comes back when a worker of that code starts.
   */
  async deleteSchedule(name: string): Promise<boolean> {
    checkName(name, 'schedule')
    this.assertOpen()
    await this.ready()
    return this.store.scheduleDelete({ name })
  }

  /** Stops a schedule's ticks until `resumeSchedule`. `SCHEDULE_NOT_FOUND` when there is none. */
  pauseSchedule(name: string): Promise<ScheduleInfo> {
    return this.setSchedulePaused(name, true)
  }

  /** Lets a paused schedule tick again, from its next tick after now: the ticks it missed meanwhile are not enqueued. */
  resumeSchedule(name: string): Promise<ScheduleInfo> {
    return this.setSchedulePaused(name, false)
  }

  private async setSchedulePaused(name: string, paused: boolean): Promise<ScheduleInfo> {
    checkName(name, 'schedule')
    this.assertOpen()
    await this.ready()
    const schedule = await this.store.scheduleGet({ name })
    if (schedule === undefined) throw new OffloadError('SCHEDULE_NOT_FOUND', `no schedule named '${name}'`, { schedule: name })
    const written = await this.store.scheduleUpsert(pausedWrite(schedule, paused, await this.store.now()))
    this.maintenance?.schedulesChanged()
    return written
  }

  private async writeSchedule(checked: CheckedSchedule, source: ScheduleSource): Promise<ScheduleInfo> {
    this.assertOpen()
    await this.ready()
    const prepare = (task: string, payload: unknown, options: EnqueueOptions): JobInsert => this.prepare({ task, payload, options }, undefined, Date.now())
    const written = await this.store.scheduleUpsert(scheduleWrite(checked, source, prepare, await this.store.now()))
    this.maintenance?.schedulesChanged()
    return written
  }

  /** Writes the schedules of `config.schedules`, once per instance. */
  private declareSchedules(): Promise<void> {
    this.schedulesDeclared ??= (async () => {
      for (const checked of this.declaredSchedules) {
        try {
          await this.writeSchedule(checked, 'code')
        } catch (error) {
          // Say which declaration: the option names in the message are the schedule's.
          if (!isOffloadError(error) || error.code === 'CLOSED') throw error
          throw new OffloadError(error.code, `schedule '${checked.name}': ${error.message}`, error.details, { cause: error })
        }
      }
    })().catch((error: unknown) => {
      this.schedulesDeclared = undefined
      throw error
    })
    return this.schedulesDeclared
  }

  // ─── Circuit breakers ─────────────────────────────────────────────────────────────────────────

  /**
   * Every circuit breaker on the store — of every process's tasks — with its state, failure rate,
   * cooldown end and settings. A task's breaker appears once it has recorded an outcome.
   */
  async listBreakers(): Promise<BreakerInfo[]> {
    await this.ready()
    return this.store.breakerList({})
  }

  /**
   * Closes a task's circuit breakers by hand (every one of the task, or one group's) and clears
   * their windows; workers claim the jobs held back within half a second. `BREAKER_NOT_FOUND` when
   * none has recorded an outcome.
   */
  async resetBreaker(task: string, options: ResetBreakerOptions = {}): Promise<{ reset: number }> {
    const scope = checkBreakerReset(task, options)
    this.assertOpen()
    await this.ready()
    const reset = await this.store.breakerReset(scope)
    if (reset === 0) throw breakerNotFound(scope)
    return { reset }
  }

  // ─── Work ─────────────────────────────────────────────────────────────────────────────────────

  /** Starts a worker on this process; resolves once it is claiming. */
  async work(options: WorkOptions = {}): Promise<Worker> {
    const { settings, maintenance: runMaintenance, handleSignals } = resolveWorkOptions(options, this.definitions.values())
    if (options.queues === undefined) settings.queues = [...settings.queues, WEBHOOK_QUEUE]
    this.assertOpen()
    await this.ready()
    // Before the worker starts: a declared schedule whose task this process lacks fails work() with nothing running.
    await this.declareSchedules()
    this.assertOpen()
    if (this.queueLimits !== undefined) {
      settings.limits = this.queueLimits
      // A job claimed ahead would count against a rate window it may not start in.
      if (settings.queues.some((queue) => this.queueLimits!.get(queue)?.rate !== undefined)) settings.prefetch = 0
    }
    const worker = new Worker(this.store, this.runnable, settings, this.logger)
    this.workers.add(worker)
    void worker.done.then(() => this.workers.delete(worker))
    // listWorkers() shows a worker as soon as work() resolves.
    await worker.registered
    if (runMaintenance) {
      const webhookDelivery = webhookDeliveryTemplate(this.webhookSettings)
      this.maintenance ??= new Maintenance(this.store, { ...this.maintenanceSettings, owner: worker.id, webhookDelivery }, this.logger)
      this.maintenance.start()
    }
    if (options.signal !== undefined) {
      const signal = options.signal
      const onAbort = (): void => void worker.stop()
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, { once: true })
        void worker.done.then(() => signal.removeEventListener('abort', onAbort))
      }
    }
    if (handleSignals) this.handleSignals(worker)
    return worker
  }

  private handleSignals(worker: Worker): void {
    let signals = 0
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++
      if (signals === 1) {
        this.logger.info(`${signal}: stopping worker ${worker.id} gracefully (send it again to stop now)`)
        void this.close()
      } else void this.close({ grace: 0 })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    void worker.done.then(() => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    })
  }

  // ─── Lifecycle ────────────────────────────────────────────────────────────────────────────────

  /** Applies pending migrations now (otherwise they run on first use). */
  async migrate(): Promise<{ applied: number[]; version: number }> {
    this.assertOpen()
    const result = await this.store.migrate()
    this.readyPromise ??= Promise.resolve()
    return result
  }

  private ready(): Promise<void> {
    this.readyPromise ??= this.autoMigrate ? this.store.migrate().then(() => undefined) : Promise.resolve()
    return this.readyPromise.catch((error: unknown) => {
      // Let a later call try again (the database may come back); this caller sees the error.
      this.readyPromise = undefined
      throw error
    })
  }

  /**
   * Stops workers gracefully (each within its shutdown grace, or `grace`), stops maintenance,
   * rejects pending `result()` waits and closes the store if this instance opened it.
   */
  close(options: { grace?: Duration } = {}): Promise<void> {
    const graceMs = options.grace === undefined ? undefined : parseDuration(options.grace, 'grace')
    if (graceMs !== undefined) for (const worker of this.workers) void worker.stop({ graceMs })
    this.closed.abort(new OffloadError('CLOSED', 'this Offload instance is closed'))
    this.closing ??= (async () => {
      await Promise.all([...this.workers].map((worker) => worker.stop(graceMs === undefined ? {} : { graceMs })))
      await this.maintenance?.stop()
      this.watcher.close()
      if (this.ownsStore) await this.store.close()
    })()
    return this.closing
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new OffloadError('CLOSED', 'this Offload instance is closed')
  }
}

const TIMED_OUT = Symbol('timed out')

/** Debounce and throttle are one job per call: each is its own store transaction, and a batch is all or nothing. */
function refuseFlowBatch(items: readonly EnqueueItem[]): void {
  const index = items.findIndex((item) => item.options?.debounce !== undefined || item.options?.throttle !== undefined)
  if (index < 0) return
  const name = items[index]!.options!.debounce !== undefined ? 'debounce' : 'throttle'
  throw new OffloadError('INVALID_OPTION', `${name} takes one job per call (job ${index} of ${items.length}): enqueue it alone`, { option: name, index })
}

/** A failure group's fingerprint, as `errorFingerprint` makes them. */
function checkFingerprint(value: unknown): string {
  if (typeof value !== 'string' || !FINGERPRINT_PATTERN.test(value)) {
    throw new OffloadError('INVALID_OPTION', `fingerprint must be 16 lowercase hex characters (from listFailureGroups), got ${describe(value)}`, {
      option: 'fingerprint',
    })
  }
  return value
}

/** The optional queue and task that narrow a failure group. */
function checkScope(options: { queue?: unknown; task?: unknown }): { queue?: string; task?: string } {
  const scope: { queue?: string; task?: string } = {}
  if (options.queue !== undefined) scope.queue = checkName(options.queue, 'queue')
  if (options.task !== undefined) scope.task = checkName(options.task, 'task')
  return scope
}

/** `webhooks` settings resolved to milliseconds. */
export interface WebhookSettings {
  secret: string | undefined
  attempts: number
  timeoutMs: number
  backoff: ResolvedBackoff
}

/** Queue settings as the store takes them: caps for enqueues, limits for claims; undefined where no queue has one. */
interface QueueSettings {
  caps: ReadonlyMap<string, number> | undefined
  limits: ReadonlyMap<string, QueueLimits> | undefined
}

function resolveQueueOptions(value: unknown): QueueSettings {
  if (value === undefined) return { caps: undefined, limits: undefined }
  const queues = checkObject(value, 'queues')
  const caps = new Map<string, number>()
  const limits = new Map<string, QueueLimits>()
  for (const [queue, options] of Object.entries(queues)) {
    checkName(queue, 'queue')
    const at = `queues.${queue}`
    const settings = checkObject(options, at)
    checkOptions(settings, QUEUE_OPTIONS, at)
    if (settings.maxQueued !== undefined) {
      caps.set(queue, checkNumber(settings.maxQueued, `${at}.maxQueued`, { integer: true, min: 1 }))
    }
    const queueLimits: QueueLimits = {}
    if (settings.concurrency !== undefined) {
      queueLimits.concurrency = checkNumber(settings.concurrency, `${at}.concurrency`, { integer: true, min: 1, max: 1_000_000 })
    }
    if (settings.groupConcurrency !== undefined) {
      queueLimits.groupConcurrency = checkNumber(settings.groupConcurrency, `${at}.groupConcurrency`, { integer: true, min: 1, max: 1_000_000 })
    }
    if (settings.rateLimit !== undefined) {
      const rate = checkObject(settings.rateLimit, `${at}.rateLimit`)
      checkOptions(rate, RATE_LIMIT_OPTIONS, `${at}.rateLimit`)
      const limit = checkNumber(rate.limit, `${at}.rateLimit.limit`, { integer: true, min: 1, max: 1_000_000 })
      const intervalMs = parseDuration(rate.interval as Duration, `${at}.rateLimit.interval`)
      if (intervalMs < 10) throw new OffloadError('INVALID_OPTION', `${at}.rateLimit.interval must be at least 10ms`, { option: `${at}.rateLimit.interval` })
      queueLimits.rate = { limit, intervalMs }
    }
    if (Object.keys(queueLimits).length > 0) limits.set(queue, queueLimits)
  }
  return { caps: caps.size === 0 ? undefined : caps, limits: limits.size === 0 ? undefined : limits }
}

function resolveWebhookOptions(value: unknown): WebhookSettings {
  const options = value === undefined ? {} : checkObject(value, 'webhooks')
  checkOptions(options, WEBHOOK_OPTIONS, 'webhooks')
  const secret = options.secret ?? (process.env.OFFLOAD_WEBHOOK_SECRET || undefined)
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16)) {
    throw new OffloadError('INVALID_OPTION', `webhooks.secret must be a string of at least 16 characters, got ${describe(secret)}`, {
      option: 'webhooks.secret',
    })
  }
  return {
    secret,
    attempts: options.attempts === undefined ? 8 : checkAttempts(options.attempts, 'webhooks.attempts'),
    timeoutMs: checkTimeout(options.timeout ?? '10s', 'webhooks.timeout'),
    backoff: resolveBackoff(options.backoff ?? { type: 'exponential', base: '2s', factor: 3, max: '1h', jitter: 0.2 }, 'webhooks.backoff'),
  }
}

/**
 * A job as `prepare` wrote it, described without reading it back; `now` is the enqueue's clock.
 * `prepare` proved the item's payload and metadata serialise faithfully, so they stand for the
 * stored JSON as they are.
 */
function describeInsert(item: EnqueueItem, insert: JobInsert, id: string, state: JobState, now: number): JobInfo {
  const job: JobInfo = {
    id,
    task: insert.task,
    queue: insert.queue,
    state,
    payload: item.payload === undefined ? null : item.payload,
    metadata: item.options?.metadata ?? {},
    priority: insert.priority,
    attempt: 0,
    maxAttempts: insert.maxAttempts,
    runAt: new Date(insert.runAt ?? now + (insert.delayMs ?? 0)),
    createdAt: new Date(now),
    errors: [],
  }
  if (insert.key !== undefined) job.key = insert.key
  if (insert.timeoutMs !== undefined) job.timeoutMs = insert.timeoutMs
  if (insert.backoff !== undefined) job.backoff = insert.backoff
  if (insert.webhook !== undefined) job.webhook = insert.webhook
  return job
}

/** What `work()` runs with, once its options are checked. */
export interface WorkPlan {
  settings: WorkerSettings
  maintenance: boolean
  handleSignals: boolean
}

/**
 * Checks `work()` options against the tasks that would run and resolves their defaults, without
 * touching a store — so the CLI can refuse bad input before it opens or migrates anything.
 */
export function resolveWorkOptions(options: WorkOptions, tasks: Iterable<TaskDefinition<any, any>>): WorkPlan {
  checkObject(options, 'work() options')
  checkOptions(options, WORK_OPTIONS, 'work()')
  const concurrency = options.concurrency === undefined ? 10 : checkNumber(options.concurrency, 'concurrency', { integer: true, min: 1, max: 10_000 })
  const leaseMs = parseDuration(options.leaseDuration ?? '15s', 'leaseDuration')
  if (leaseMs < 1000) throw new OffloadError('INVALID_OPTION', 'leaseDuration must be at least 1s', { option: 'leaseDuration' })
  const heartbeatMs = options.heartbeatInterval === undefined ? Math.floor(leaseMs / 3) : parseDuration(options.heartbeatInterval, 'heartbeatInterval')
  if (heartbeatMs <= 0 || heartbeatMs >= leaseMs) {
    throw new OffloadError('INVALID_OPTION', 'heartbeatInterval must be above 0 and shorter than leaseDuration', { option: 'heartbeatInterval' })
  }
  let queues: readonly string[]
  if (options.queues === undefined) {
    queues = [...new Set([...tasks].map((definition) => definition.queue))]
    if (queues.length === 0) {
      throw new OffloadError('INVALID_OPTION', 'work() needs tasks to run: define them with offload.task() first, or pass queues', {
        option: 'queues',
      })
    }
  } else {
    if (!Array.isArray(options.queues) || options.queues.length === 0) {
      throw new OffloadError('INVALID_OPTION', `queues must be a non-empty array of queue names, got ${describe(options.queues)}`, {
        option: 'queues',
      })
    }
    queues = [...new Set(options.queues.map((queue) => checkName(queue, 'queue')))]
  }
  const pollMs = parseDuration(options.pollInterval ?? '1s', 'pollInterval')
  if (pollMs < 10) throw new OffloadError('INVALID_OPTION', 'pollInterval must be at least 10ms', { option: 'pollInterval' })
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new OffloadError('INVALID_OPTION', `signal must be an AbortSignal, got ${describe(options.signal)}`, { option: 'signal' })
  }
  return {
    settings: {
      id: options.id === undefined ? defaultWorkerId() : checkString(options.id, 'id', 200),
      queues,
      concurrency,
      batchSize: options.batchSize === undefined ? concurrency : checkNumber(options.batchSize, 'batchSize', { integer: true, min: 1, max: 10_000 }),
      prefetch: options.prefetch === undefined ? DEFAULT_PREFETCH : checkNumber(options.prefetch, 'prefetch', { integer: true, min: 0, max: 10_000 }),
      leaseMs,
      heartbeatMs,
      pollMs,
      shutdownGraceMs: parseDuration(options.shutdownGrace ?? '10s', 'shutdownGrace'),
    },
    maintenance: options.maintenance === undefined ? true : checkBoolean(options.maintenance, 'maintenance'),
    handleSignals: options.handleSignals === undefined ? true : checkBoolean(options.handleSignals, 'handleSignals'),
  }
}
