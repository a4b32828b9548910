/**
 * The Store contract: the one seam between Offload's runtime and a database.
 *
 * Each method is one atomic queue operation. Nothing outside `store/<name>/` knows which store it
 * talks to; the runtime asks `capabilities`, never the type. Every method takes one params object,
 * so new fields never break callers, and every time-dependent method takes an optional `now`
 * (epoch milliseconds) so tests control the clock. Without `now` a store uses its own single clock:
 * the database's `now()` where it has one, else the clock it was created with — never a mix.
 *
 * Stores assume validated input: the runtime checks names, options and payload sizes before it
 * calls. A store throws `OffloadError` for conditions a caller must handle (`JOB_NOT_FOUND`,
 * `INVALID_STATE`, `STORE_BUSY`, `STORE_UNAVAILABLE`, `CLOSED`) and nothing else.
 *
 * Every state change appends one event row in the same transaction as the change.
 */
import type { ResolvedBackoff } from '../backoff.js'
import type { JobEvent, JobInfo, JobState, Json } from '../job.js'

export interface StoreCapabilities {
  /**
   * The store tells `listen` subscribers about other processes' writes within milliseconds
   * (LISTEN/NOTIFY, SQLite's data_version). Without it the runtime relies on polling alone.
   */
  listen: boolean
  /** Enqueue can join a transaction the application holds (a Postgres client in a transaction). */
  transactionalEnqueue: boolean
}

// ─── Enqueue ────────────────────────────────────────────────────────────────────────────────────

/** One job to create; already validated and serialised. */
export interface JobInsert {
  /** Unique in the store: a batch with an id already stored, or with one id twice, is rejected whole with `JOB_EXISTS`. */
  id: string
  task: string
  queue: string
  /** JSON text. */
  payload: string
  /** JSON text of an object, or undefined for none. */
  metadata?: string
  priority: number
  maxAttempts: number
  /** Run at this absolute time (epoch ms)… */
  runAt?: number
  /** …or this long after the store's now. Neither means now. A job due now is `queued`, else `scheduled`. */
  delayMs?: number
  timeoutMs?: number
  backoff?: ResolvedBackoff
  /** Idempotency key, unique per task among unfinished jobs and for `keyTtlMs` after they finish. */
  key?: string
  keyTtlMs?: number
  /**
   * The job's group (a customer, a tenant): claims take a queue's grouped jobs round-robin between
   * groups, and at most `QueueLimits.groupConcurrency` of one group run at once.
   */
  group?: string
  /**
   * An http(s) URL to tell when the job finishes. Each time the job reaches `completed`, `failed`
   * or `cancelled`, that transition marks it due for a webhook delivery (see `jobWebhookDispatch`).
   */
  webhook?: string
}

export interface JobInsertManyParams {
  jobs: JobInsert[]
  now?: number
  /**
   * Caps on `queued` jobs, by queue name. Counted inside the insert's transaction: a batch that
   * would take a queue past its cap is rejected whole with `QueueFullError` (`QUEUE_FULL`, details
   * `{ queue, limit, queued }`) and writes nothing. Jobs that return an existing key holder do
   * not count. A soft cap: concurrent inserts from other processes may overshoot it by their batch.
   */
  maxQueued?: ReadonlyMap<string, number>
  /**
   * Where `capabilities.transactionalEnqueue`: a connection of the store's kind (a `pg` client) in
   * a transaction the application holds. The jobs are written through it, exist if and only if
   * that transaction commits, and are announced to workers at its commit.
   */
  transaction?: unknown
}

export interface JobInsertResult {
  /** The new job's id, or the id of the job already holding the key. */
  id: string
  /** That job's state now. */
  state: JobState
  /** True when the key was held and no job was created. */
  existing: boolean
}

// ─── Debounce and throttle ──────────────────────────────────────────────────────────────────────

/**
 * Debounce: one job per task and debounce key stands for a burst of enqueues. While that job is
 * still waiting for its first run (`scheduled`, never started, its run time not yet reached), each
 * enqueue with the key replaces its payload and options and pushes its run time back.
 */
export interface JobDebounceParams {
  /**
   * The job to create when none is waiting, and the values that replace a waiting one's: payload,
   * metadata, priority, max attempts, timeout, backoff and webhook (its id, queue and creation time
   * stay). Its `runAt` and `delayMs` are ignored, and it takes no idempotency `key`.
   */
  job: JobInsert
  /** The debounce key, one namespace per task. */
  key: string
  /** The job is due this long after now (> 0). */
  delayMs: number
  /**
   * A waiting job's run time is never pushed past its creation plus this, so a steady stream of
   * enqueues still runs it. Without it, the run time moves on with every enqueue. A run time is
   * never brought forward.
   */
  maxWaitMs?: number
  now?: number
}

/** Throttle: at most one job per task and throttle key per window. */
export interface JobThrottleParams {
  /** The job to create when the key's window is over (or none began). It takes no idempotency `key`. */
  job: JobInsert
  /** The throttle key, one namespace per task. */
  key: string
  /** How long after a job is created enqueues with the key return it rather than create one (> 0). */
  windowMs: number
  /** As `JobInsertManyParams.maxQueued`: a created job due now counts against its queue's cap. */
  maxQueued?: ReadonlyMap<string, number>
  now?: number
}

// ─── Claim, heartbeat, finish ───────────────────────────────────────────────────────────────────

/**
 * Flow-control limits of one queue, applied by claims in every process that passes them. They
 * belong to the queue, not to a worker: every process working the queue must pass the same ones.
 */
export interface QueueLimits {
  /** At most this many of the queue's jobs `running` at once, across all workers. */
  concurrency?: number
  /** At most `limit` claims of the queue's jobs per fixed window of `intervalMs` (aligned to the epoch). */
  rate?: { limit: number; intervalMs: number }
  /** At most this many `running` jobs of one group at once, across all workers. */
  groupConcurrency?: number
}

/** Jobs a claim must pass over: a task's, or one group's of a task (a circuit breaker is open). */
export interface ClaimExclusion {
  task: string
  /** Only the jobs of this group; without it, all of the task's jobs. */
  group?: string
}

export interface JobClaimParams {
  queues: readonly string[]
  workerId: string
  /** Claim at most this many. */
  limit: number
  /** The lease: how long the claim holds without a heartbeat. */
  leaseMs: number
  /** Limits by queue name; a queue without an entry is unlimited. */
  limits?: ReadonlyMap<string, QueueLimits>
  /** Jobs to leave queued: they are neither claimed nor counted against any limit. */
  exclude?: readonly ClaimExclusion[]
  now?: number
}

/** A claimed job: what a worker needs to run it and to fence its outcome. */
export interface ClaimedJob {
  id: string
  task: string
  queue: string
  payload: unknown
  metadata: Record<string, Json>
  priority: number
  /** The attempt now running, 1-based. */
  attempt: number
  maxAttempts: number
  /**
   * The fencing token: grows on every claim and is never reset. Heartbeats and finishes apply only
   * where the job is still `running` under this lease, so a stale worker — one whose lease expired
   * and whose job was rescued, retried or cancelled — can never overwrite a newer outcome.
   * (The attempt number cannot serve: a shutdown release gives an attempt back, and a manual retry
   * starts counting again.)
   */
  lease: number
  timeoutMs?: number
  backoff?: ResolvedBackoff
  key?: string
  /** The job's group (`JobInsert.group`). */
  group?: string
  createdAt: Date
  runAt: Date
}

export interface JobLeaseRef {
  id: string
  lease: number
}

export interface JobHeartbeatParams {
  leases: readonly JobLeaseRef[]
  leaseMs: number
  now?: number
}

/** A lease the worker no longer holds, and the state that replaced it. */
export interface LostLease {
  id: string
  state: JobState | 'missing'
}

export interface FinishError {
  name: string
  message: string
  stack?: string
}

/** How one attempt ended. Every kind is fenced by `id` + `lease`. */
export type JobFinish = JobLeaseRef &
  (
    | { outcome: 'completed'; result: string }
    /** Attempts left: `retrying`, due `delayMs` after now. */
    | { outcome: 'retry'; error: FinishError; delayMs: number }
    /** No attempts left, or a permanent error. */
    | { outcome: 'failed'; error: FinishError }
    /** `scheduled` again after `delayMs`; the attempt is given back. */
    | { outcome: 'snoozed'; delayMs: number }
    /** Shutdown: `queued` again at once; the attempt is given back. */
    | { outcome: 'released' }
  )

export interface JobFinishManyParams {
  finishes: readonly JobFinish[]
  now?: number
}

/** A handler's note about a running job: progress (the latest wins) and/or a log line. */
export interface JobNote extends JobLeaseRef {
  /** JSON text. */
  progress?: string
  log?: string
}

export interface JobNoteManyParams {
  notes: readonly JobNote[]
  now?: number
}

// ─── Admin ──────────────────────────────────────────────────────────────────────────────────────

export interface JobListParams {
  states?: readonly JobState[]
  queue?: string
  task?: string
  /** Only jobs with this idempotency key (exact match), of any task, whether it is still held or not. */
  key?: string
  /** Only `failed` jobs whose last error has this fingerprint (see `errorFingerprint`): one failure group. */
  fingerprint?: string
  /** Keyset cursor: only jobs older than this id (ids sort by creation). */
  before?: string
  /** Newest first. */
  limit: number
}

export interface JobCount {
  queue: string
  state: JobState
  count: number
}

/** One queue as the store sees it: every queue that holds jobs or has been paused. */
export interface QueueInfo {
  queue: string
  paused: boolean
  /** Jobs per state; every state is present, 0 when none. */
  counts: Record<JobState, number>
  /** The `runAt` of the oldest `queued` job: how long the head of the queue has been waiting. */
  oldestQueuedAt?: Date
}

export interface QueuePauseParams {
  queue: string
  now?: number
}

export interface QueueCountsCompactParams {
  /** Fold at most this many pending changes. */
  limit: number
}

/** What a webhook delivery job is made of; the store fills in id, payload and times. */
export interface WebhookDeliveryTemplate {
  task: string
  queue: string
  maxAttempts: number
  backoff?: ResolvedBackoff
  timeoutMs?: number
}

export interface JobWebhookDispatchParams {
  /** At most this many deliveries per call. */
  limit: number
  delivery: WebhookDeliveryTemplate
  now?: number
}

/** The payload of a webhook delivery job: which finish of which job to announce, and where. */
export interface WebhookDeliveryPayload {
  jobId: string
  url: string
  /** The final state the job reached. */
  state: JobState
  /** The job's attempt count when it finished. */
  attempt: number
  /** ISO time of the finish. */
  finishedAt: string
}

export interface EventAppendParams {
  jobId: string
  /** Only `webhook` for now: a delivery attempt's outcome, written by the delivery job. */
  type: 'webhook'
  data: Record<string, Json>
  now?: number
}

export interface EventListParams {
  /** Only this job's events. */
  jobId?: string
  /** Only events with a larger `seq`: the cursor for following the log. */
  after?: number
  limit: number
}

// ─── Failure triage ─────────────────────────────────────────────────────────────────────────────

export interface JobFailureGroupsParams {
  /** Only this group: at most one comes back. */
  fingerprint?: string
  /** Count only the failed jobs of this queue… */
  queue?: string
  /** …and of this task. */
  task?: string
  limit: number
  now?: number
}

/** Failed jobs whose last error has one fingerprint: failures that are one problem. */
export interface FailureGroup {
  /** `errorFingerprint` of the last error: 16 hex characters. */
  fingerprint: string
  /** Failed jobs in the group (within the queue and task asked for). */
  count: number
  /** The earliest and latest `finishedAt` among them. */
  firstSeenAt: Date
  lastSeenAt: Date
  /** The tasks and queues the group's jobs belong to, sorted. */
  tasks: string[]
  queues: string[]
  /** The last error of the group's most recent failure (by `finishedAt`), as recorded. */
  sample: { jobId: string; name: string; message: string; stack?: string }
}

export interface JobRetryGroupParams {
  fingerprint: string
  queue?: string
  task?: string
  /** Retry at most this many. */
  limit: number
  now?: number
}

// ─── Worker registry ────────────────────────────────────────────────────────────────────────────

/** How long `jobPrune` keeps the registry row of a worker that stopped beating without `workerRemove` (it died): a day. */
export const WORKER_FORGET_MS = 86_400_000

export interface WorkerBeatParams {
  /** The worker's id, as it claims jobs (`JobClaimParams.workerId`). */
  id: string
  host: string
  pid: number
  queues: readonly string[]
  concurrency: number
  /** When the worker started, epoch ms: for display, from the worker's own clock. */
  startedAt: number
  now?: number
}

export interface WorkerListParams {
  /** Only workers whose last beat is at most this old. */
  aliveMs: number
  now?: number
}

/** A job a worker holds now (claimed, running, or claimed ahead of a free slot). */
export interface WorkerJob {
  id: string
  task: string
  queue: string
  attempt: number
  startedAt?: Date
  progress?: Json
}

/** A live worker process, as its last beat described it, with the jobs it holds. */
export interface WorkerInfo {
  id: string
  host: string
  pid: number
  queues: string[]
  concurrency: number
  startedAt: Date
  lastSeenAt: Date
  /** Its `running` jobs, oldest start first. */
  running: WorkerJob[]
}

// ─── Copy between stores ────────────────────────────────────────────────────────────────────────

/** One event of an exported job's timeline, without what the job itself says. */
export type JobRecordEvent = Omit<JobEvent, 'seq' | 'jobId' | 'task' | 'queue'>

/** A job with everything needed to recreate it in another store (`offload copy`). */
export interface JobRecord {
  job: JobInfo
  /** How long the job's key stays held after it finishes, if set at enqueue. */
  keyTtlMs?: number
  /** The job's timeline, oldest first. */
  events: JobRecordEvent[]
}

export interface JobExportParams {
  /** Keyset cursor: only jobs whose id sorts after this one. */
  after?: string
  /** Oldest first (ascending id). */
  limit: number
}

export interface JobImportParams {
  records: readonly JobRecord[]
  now?: number
}

export interface JobImportResult {
  /** Jobs written. */
  imported: number
  /** Jobs whose id the store already had: left as they are, so a re-run copies nothing twice. */
  skipped: number
  /** Imported jobs whose key another job of the store already held: imported without holding it. */
  keyConflicts: string[]
}

// ─── Maintenance ────────────────────────────────────────────────────────────────────────────────

export interface JobPromoteParams {
  limit: number
  now?: number
}

export interface JobRescueParams {
  limit: number
  now?: number
}

export interface JobPruneParams {
  /**
   * Finished jobs older than this (by `finishedAt`) are deleted with their events, per state. A
   * pruned job's idempotency key is freed with it, even inside its `keyTtlMs`: a key never names a
   * job that no longer exists.
   */
  olderThanMs: { completed: number; failed: number; cancelled: number }
  limit: number
  now?: number
}

export interface LeaderElectParams {
  name: string
  owner: string
  ttlMs: number
  now?: number
}

/**
 * A hint that something changed. Hints may be coalesced, late or spurious; a subscriber re-reads
 * what it cares about rather than trusting the hint's content.
 */
export type StoreNote =
  /** Jobs may have become claimable in `queue`. */
  | { kind: 'ready'; queue: string }
  /** Jobs became `scheduled` or `retrying`, due at `runAt`: the promoter may want to wake sooner. */
  | { kind: 'due'; runAt: number }
  /** Jobs reached a final state. */
  | { kind: 'finished'; ids: readonly string[] }
  /** Jobs were cancelled (also reported as finished): a worker running one aborts it. */
  | { kind: 'cancelled'; ids: readonly string[] }
  /** Handlers reported progress or log lines for these running jobs (events were appended). */
  | { kind: 'progress'; ids: readonly string[] }
  /** Another process wrote something; what is unknown. */
  | { kind: 'changed' }

// ─── Schedules ──────────────────────────────────────────────────────────────────────────────────

/** Who wrote a schedule: declared in the application's code (written at start), or at run time (library, HTTP, CLI). */
export type ScheduleSource = 'code' | 'api'

/** What each job a schedule enqueues is made of besides its payload: resolved when the schedule is written. */
export interface ScheduleJobTemplate {
  priority: number
  maxAttempts: number
  timeoutMs?: number
  backoff?: ResolvedBackoff
  metadata?: Record<string, Json>
}

export interface ScheduleUpsertParams {
  /** Unique; a task name's characters. */
  name: string
  task: string
  queue: string
  /** A 5-field (minutes) or 6-field (seconds first) cron expression, already validated. */
  cron: string
  /** An IANA time zone the cron expression is read in. */
  timezone: string
  /** JSON text. */
  payload: string
  job: ScheduleJobTemplate
  /** After downtime, enqueue at most this many of the ticks missed (0: skip them all). */
  catchUp: number
  source: ScheduleSource
  /** Undefined keeps the stored flag; a new schedule is not paused. */
  paused?: boolean
  /** The first tick after now (epoch ms); null when the expression never fires again. See `scheduleUpsert`. */
  nextRunAt: number | null
  now?: number
}

/** A schedule as stored. */
export interface ScheduleInfo {
  name: string
  task: string
  queue: string
  cron: string
  timezone: string
  payload: Json
  job: ScheduleJobTemplate
  catchUp: number
  paused: boolean
  source: ScheduleSource
  /** The next tick the scheduler will enqueue; absent when the expression never fires again. */
  nextRunAt?: Date
  /** The latest tick that enqueued a job. */
  lastRunAt?: Date
  createdAt: Date
  updatedAt: Date
}

export interface ScheduleTickParams {
  name: string
  /** The next run the caller read: the tick only applies if the store still holds this one. */
  due: number
  /** The next run after this tick; null when the expression never fires again. */
  next: number | null
  /** The tick times (epoch ms) whose jobs this tick creates, for `lastRunAt`; may be empty (missed ticks skipped). */
  ticks: readonly number[]
  /** One job per tick in `ticks`, ready to insert, without idempotency keys (the compare-and-set makes a tick's jobs unique). */
  jobs: JobInsert[]
  now?: number
}

// ─── Circuit breakers ───────────────────────────────────────────────────────────────────────────

/**
 * A circuit breaker's state. `closed`: jobs run. `open`: claims leave the jobs queued until the
 * cooldown ends. `half_open`: a few probe jobs run; the first outcome recorded decides.
 */
export type BreakerState = 'closed' | 'open' | 'half_open'

/** A task's breaker settings, resolved to milliseconds (see `BreakerOptions` in task.ts). */
export interface BreakerSettings {
  /** Failure rate, 0–1, at or above which a closed breaker opens. */
  threshold: number
  /** Attempts the rolling window must hold before the breaker may open. */
  minVolume: number
  /** The rolling window's length. */
  windowMs: number
  /** How long an open breaker stays open before it lets probes through. */
  cooldownMs: number
  /** Probe jobs that may run at once while half-open. */
  probes: number
}

/** One attempt's outcome, as far as a breaker is concerned. */
export interface BreakerOutcome {
  task: string
  /** The job's group, for a per-group breaker; without it, the task-wide breaker. */
  group?: string
  failed: boolean
}

export interface BreakerRecordParams {
  /** Applied in order. Outcomes of a task without an entry in `settings` are ignored. */
  outcomes: readonly BreakerOutcome[]
  /** Settings by task name; they replace the ones the breaker recorded before. */
  settings: ReadonlyMap<string, BreakerSettings>
  now?: number
}

export interface BreakerTransition {
  task: string
  group?: string
  from: BreakerState
  to: BreakerState
  at: Date
}

export interface BreakerProbeParams {
  task: string
  group?: string
  now?: number
}

/**
 * What a claimed job of a breaker's task may do: `closed` run as usual (no breaker, or a closed
 * one); `probe` run as one of the half-open breaker's probes (a slot was taken); `refused` go back
 * to the queue, the breaker being open or its probe slots taken.
 */
export type BreakerAdmission = 'closed' | 'probe' | 'refused'

/** One breaker as the store holds it, its state as of `now`. */
export interface BreakerInfo {
  task: string
  /** The group of a per-group breaker; absent for a task-wide one. */
  group?: string
  /** An `open` breaker whose cooldown has ended reads `half_open`: the next claim takes a probe. */
  state: BreakerState
  /** Failed attempts over attempts in the rolling window (0 when it holds none). */
  failureRate: number
  /** Attempts in the rolling window: the current sub-window plus the weighted share of the previous one. */
  volume: number
  /** When it last opened, while it is not closed. */
  openedAt?: Date
  /** When an open breaker lets probes through. */
  cooldownUntil?: Date
  /** Probe slots taken while half-open. */
  probesInFlight: number
  /** The settings its last recorded outcome came with. */
  settings: BreakerSettings
  /** How many times it moved to each state, since it was first recorded: for counters. */
  transitions: Record<BreakerState, number>
  updatedAt: Date
}

export interface BreakerListParams {
  now?: number
}

export interface BreakerResetParams {
  task: string
  /** Only this group's breaker; without it, every breaker of the task (task-wide and per group). */
  group?: string
  now?: number
}

export interface Store {
  /** The store's URL with any password hidden: for logs and messages. */
  readonly description: string
  readonly capabilities: StoreCapabilities

  /** Applies pending migrations; safe to call from many processes at once. Returns versions applied. */
  migrate(): Promise<{ applied: number[]; version: number }>
  /** Stops timers and listeners, waits for pending writes, releases connections. Idempotent. */
  close(): Promise<void>
  /** The store's clock, epoch milliseconds. */
  now(): Promise<number>

  /**
   * Creates jobs in one transaction: all are written or none. A job whose key is held returns the
   * holder with `existing: true` instead of a new row, even against concurrent inserts from other
   * processes. Results are in input order.
   */
  jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]>
  jobGet(params: { id: string }): Promise<JobInfo | undefined>
  /**
   * Newest first; filter by states, queue, task, key or failure group; page with `before`. A key
   * or a fingerprint is found through an index of its own, never by reading the whole table.
   */
  jobList(params: JobListParams): Promise<JobInfo[]>
  /**
   * Counts of unfinished and finished jobs per queue and state, none of them 0. Read from counts
   * the store keeps as it writes (in the same transactions), never by counting the jobs.
   */
  jobCounts(): Promise<JobCount[]>

  /**
   * Atomically moves up to `limit` ready jobs of `queues` to `running` under `workerId`: highest
   * priority first, then earliest `runAt`, then oldest. No job is handed to two claimers.
   */
  jobClaim(params: JobClaimParams): Promise<ClaimedJob[]>
  /** Extends the leases still held; reports the ones that were lost (cancelled, rescued, …). */
  jobHeartbeat(params: JobHeartbeatParams): Promise<LostLease[]>
  /** Applies attempt outcomes; returns, per finish, whether the lease still held and it applied. */
  jobFinishMany(params: JobFinishManyParams): Promise<boolean[]>
  /** Stores progress and log lines for running jobs whose lease still holds. */
  jobNoteMany(params: JobNoteManyParams): Promise<void>

  /** Cancels an unfinished job. `JOB_NOT_FOUND`, or `INVALID_STATE` if it already finished. */
  jobCancel(params: { id: string; now?: number }): Promise<JobInfo>
  /**
   * Puts a `failed` or `cancelled` job back to `queued`, due now, with its attempts counted from zero.
   * `INVALID_STATE` for other states, or when its key is now held by another unfinished job.
   */
  jobRetry(params: { id: string; now?: number }): Promise<JobInfo>

  /**
   * Deletes a finished job (`completed`, `failed` or `cancelled`) with its events and its key, as
   * the pruner would. `JOB_NOT_FOUND`, or `INVALID_STATE` for an unfinished job: cancel it first.
   */
  jobDelete(params: { id: string }): Promise<void>

  /** Moves `scheduled` and `retrying` jobs whose run time has come to `queued`. Returns how many. */
  jobPromote(params: JobPromoteParams): Promise<number>
  /** The earliest run time among `scheduled` and `retrying` jobs, if any. */
  jobNextDue(): Promise<number | undefined>
  /**
   * Jobs whose lease expired go back to `queued` (attempts left) or to `failed` (none left), with
   * the expiry recorded as the attempt's error. Returns how many.
   */
  jobRescue(params: JobRescueParams): Promise<number>
  /**
   * Deletes old finished jobs and their events. Returns how many jobs. Also forgets the registry
   * rows of workers not seen for `WORKER_FORGET_MS` (they died without `workerRemove`).
   */
  jobPrune(params: JobPruneParams): Promise<number>

  /**
   * Events in `seq` order: one job's timeline, or the whole log after a cursor. A follower paging
   * with `after` sees every event exactly once, so an event never becomes visible after one with a
   * larger `seq`. `data` by type: started `{ workerId }`; retrying `{ error: { name, message },
   * runAt }` (ISO time); failed and rescued `{ error: { name, message } }`; snoozed `{ runAt }`;
   * progress `{ progress }`; log `{ message }`; none for the others.
   */
  eventList(params: EventListParams): Promise<JobEvent[]>

  /** The newest event's `seq`, 0 for an empty log: where a follower starts to see only what comes next. */
  eventLastSeq(): Promise<number>

  /** Jobs with their event logs, ascending by id, for copying to another store. */
  jobExport(params: JobExportParams): Promise<JobRecord[]>
  /**
   * Writes exported jobs in one transaction, keeping their ids, states, attempts, times, results,
   * errors and timelines (events get this store's `seq`s, in the order given). A job whose id is
   * already stored is skipped. A `running` job arrives `queued` with its attempt given back and a
   * `released` event, since no worker of this store holds it. Keys are held as the source held
   * them: unfinished jobs' keys, and finished jobs' keys still inside their `keyTtlMs`.
   */
  jobImport(params: JobImportParams): Promise<JobImportResult>

  // ─── Failure triage ───────────────────────────────────────────────────────────────────────────
  //
  // A job that becomes `failed` (an attempt's `failed` outcome, a rescue without attempts left, an
  // import) gets the `errorFingerprint` of the error recorded for its last attempt, in the same
  // transaction; a job that leaves `failed` (a retry) loses it. Failed jobs stored before
  // fingerprints existed get theirs in `migrate()`.

  /**
   * Failed jobs grouped by fingerprint: most jobs first, then the most recent failure first. Reads
   * only the failed jobs (an index of them), never the rest of the history.
   */
  jobFailureGroups(params: JobFailureGroupsParams): Promise<FailureGroup[]>
  /**
   * Retries up to `limit` failed jobs of one group (oldest first), each exactly as `jobRetry`
   * would: `queued` now, attempts from zero, a `retried` event, `ready` notes. A job whose key is
   * held by another unfinished job stays `failed` and is passed over. One transaction. Returns how
   * many were retried: fewer than `limit` only when no more of the group can be.
   */
  jobRetryGroup(params: JobRetryGroupParams): Promise<number>

  // ─── Worker registry ──────────────────────────────────────────────────────────────────────────

  /** Records that a worker is alive (`lastSeenAt` = now), creating or updating its row. */
  workerBeat(params: WorkerBeatParams): Promise<void>
  /** Forgets a worker that stopped cleanly. Idempotent. */
  workerRemove(params: { id: string }): Promise<void>
  /**
   * Workers seen within `aliveMs`, by start time, each with its `running` jobs: read from the jobs
   * in `running` alone (their index), never the whole table.
   */
  workerList(params: WorkerListParams): Promise<WorkerInfo[]>

  /** Takes or renews leadership of `name` for `ttlMs`. True while `owner` holds it. */
  leaderElect(params: LeaderElectParams): Promise<boolean>
  /** Gives leadership up at once, if `owner` holds it, so another process need not wait for the TTL. */
  leaderResign(params: { name: string; owner: string }): Promise<void>

  // ─── Queues ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Every queue that holds jobs or was ever paused, by name, with its counts and head age: the
   * counts as `jobCounts` reads them, the head age from the ready index (a few seeks per queue).
   */
  queueList(): Promise<QueueInfo[]>
  /**
   * Stops claims from `queue` in every process until `queueResume`: jobs already running (or
   * already claimed ahead by a worker) finish; enqueues still succeed. Idempotent.
   */
  queuePause(params: QueuePauseParams): Promise<void>
  /** Lets claims from `queue` resume and wakes workers (a `ready` note). Idempotent. */
  queueResume(params: QueuePauseParams): Promise<void>
  /**
   * `queueList` and `jobCounts` read counts the store keeps per queue and state as jobs are
   * written, never the jobs themselves. A store whose writers cannot update one total each without
   * queueing behind each other (PostgreSQL) has them append changes instead, and this folds up to
   * `limit` of those into the totals, so reads stay small; it returns how many it folded. The
   * maintenance leader calls it every second. A store that updates totals in place returns 0.
   */
  queueCountsCompact(params: QueueCountsCompactParams): Promise<number>

  // ─── Debounce and throttle ────────────────────────────────────────────────────────────────────
  //
  // Each is one transaction, atomic against concurrent producers in any process: of any number of
  // enqueues racing on one key, exactly one creates the job and the rest see it. A created job is
  // written as `jobInsertMany` writes one (counts, `enqueued` event, notes).

  /**
   * Updates the job waiting under the debounce key — payload and options from `job`, run time
   * now + `delayMs` (capped by `maxWaitMs`) — and returns it with `existing: true`; or, when none
   * is waiting, creates `job` due now + `delayMs`. An update appends no event: the job's state is
   * unchanged.
   */
  jobDebounce(params: JobDebounceParams): Promise<JobInsertResult>
  /**
   * Returns the job the throttle key's current window belongs to, with `existing: true`; or, when
   * the window is over (or its job was deleted), creates `job` and opens a new window of
   * `windowMs` from now. `QueueFullError` as `jobInsertMany` when a created job would overfill its
   * queue. `jobPrune` forgets windows that ended.
   */
  jobThrottle(params: JobThrottleParams): Promise<JobInsertResult>

  // ─── Webhooks ─────────────────────────────────────────────────────────────────────────────────

  /**
   * The outbox step of completion webhooks. In one transaction: takes up to `limit` jobs that a
   * final transition marked due (oldest finish first, skipping rows another dispatcher holds),
   * creates one delivery job per taken job from `delivery` — state `queued`, payload a
   * `WebhookDeliveryPayload` as JSON, its own `enqueued` event — and clears the mark. A crash
   * either leaves the mark or commits the delivery job: each finish is announced by exactly one
   * delivery job. Returns how many were created.
   */
  jobWebhookDispatch(params: JobWebhookDispatchParams): Promise<number>
  /**
   * Appends one event to a job's timeline whatever its state (the event's `state` and `attempt`
   * are the job's current ones); the job is not changed. False when the job does not exist.
   */
  eventAppend(params: EventAppendParams): Promise<boolean>

  // ─── Schedules ────────────────────────────────────────────────────────────────────────────────
  //
  // A schedule enqueues a job of a task at every tick of a cron expression. Stores keep schedules
  // and make each tick's enqueue happen once; they never parse cron: the runtime computes tick
  // times and passes them in.

  /**
   * Creates or replaces the schedule `name`. Its next run becomes `nextRunAt` when the schedule is
   * new, when its `cron` or `timezone` changes, or when it is resumed (`paused` true → false);
   * otherwise the stored next run stands, so processes that declare the same schedule as they
   * start neither skip nor repeat a tick. `paused` undefined keeps the stored flag (false when
   * new). Returns the schedule as stored.
   */
  scheduleUpsert(params: ScheduleUpsertParams): Promise<ScheduleInfo>
  scheduleGet(params: { name: string }): Promise<ScheduleInfo | undefined>
  /** Every schedule, by name. */
  scheduleList(): Promise<ScheduleInfo[]>
  /** Deletes a schedule; its jobs already enqueued stay. False when there was none. */
  scheduleDelete(params: { name: string }): Promise<boolean>
  /**
   * One tick of a schedule, in one transaction: moves its next run from `due` to `next` only if
   * it is still `due` and the schedule is not paused (compare-and-set), and only then creates
   * `jobs` exactly as `jobInsertMany` does (counts, events, notes). Of several processes ticking
   * the same schedule at once, exactly one wins and enqueues; the others get false and write
   * nothing.
   */
  scheduleTick(params: ScheduleTickParams): Promise<boolean>

  // ─── Circuit breakers ─────────────────────────────────────────────────────────────────────────
  //
  // One row per breaker, keyed by task and group ('' for task-wide), shared by every worker on the
  // store. Breakers never touch jobs: an open one only makes workers pass `exclude` to claims.

  /**
   * Adds attempt outcomes to their breakers' rolling windows and moves breakers, in one
   * transaction: a closed breaker opens once its window holds `minVolume` attempts with a failure
   * rate at or above `threshold`; a half-open one closes (window cleared) on a success and opens
   * for another cooldown on a failure. Creates breakers on their first outcome. Returns the
   * transitions, in order.
   */
  breakerRecord(params: BreakerRecordParams): Promise<BreakerTransition[]>
  /**
   * Asks whether a claimed job of the task (and group) may run. An open breaker whose cooldown
   * has ended becomes `half_open` here. A half-open one hands out `probes` slots; a slot whose
   * outcome has not come within the cooldown is freed (its worker presumably died).
   */
  breakerProbe(params: BreakerProbeParams): Promise<BreakerAdmission>
  /** Every breaker, by task then group. */
  breakerList(params: BreakerListParams): Promise<BreakerInfo[]>
  /** Closes breakers by hand and clears their windows. Returns how many it found. */
  breakerReset(params: BreakerResetParams): Promise<number>

  /** Subscribes to hints about changes. Returns the unsubscribe function. */
  listen(listener: (note: StoreNote) => void): () => void
}
