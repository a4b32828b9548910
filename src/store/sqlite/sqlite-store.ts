import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database, { type Database as Db, type Statement } from 'better-sqlite3'
import type { ResolvedBackoff } from '../../backoff.js'
import { OffloadError, QueueFullError } from '../../errors.js'
import { errorFingerprint, failureFingerprint } from '../../fingerprint.js'
import { uuidv7 } from '../../ids.js'
import { isFinished, type AttemptError, type JobEvent, type JobEventType, type JobInfo, type JobState, type Json } from '../../job.js'
import * as breakers from '../breaker-row.js'
import type { BreakerAdmission, BreakerInfo, BreakerListParams, BreakerProbeParams, BreakerRecordParams, BreakerResetParams, BreakerTransition } from '../store.js'
import type {
  ClaimedJob,
  ClaimExclusion,
  JobLeaseRef,
  EventAppendParams,
  EventListParams,
  FailureGroup,
  JobClaimParams,
  JobCount,
  JobExportParams,
  JobFailureGroupsParams,
  JobFinish,
  JobFinishManyParams,
  JobHeartbeatParams,
  JobImportParams,
  JobImportResult,
  JobInsert,
  JobInsertManyParams,
  JobInsertResult,
  JobDebounceParams,
  JobThrottleParams,
  JobListParams,
  JobNoteManyParams,
  JobPromoteParams,
  JobPruneParams,
  JobRecord,
  JobRecordEvent,
  JobRescueParams,
  JobRetryGroupParams,
  JobWebhookDispatchParams,
  LeaderElectParams,
  LostLease,
  QueueInfo,
  QueueCountsCompactParams,
  QueuePauseParams,
  ScheduleInfo,
  ScheduleTickParams,
  ScheduleUpsertParams,
  Store,
  StoreCapabilities,
  StoreNote,
  WebhookDeliveryPayload,
  WorkerBeatParams,
  WorkerInfo,
  WorkerListParams,
} from '../store.js'
import { WORKER_FORGET_MS } from '../store.js'
import { workerInfos, type WorkerJobRow, type WorkerRow } from '../worker-infos.js'
import { notApplicableError } from '../not-applicable.js'
import { toScheduleInfo, type ScheduleRow } from '../schedule-infos.js'
import { ChangeWatcher } from './change-watcher.js'
import { CountMoves } from './count-moves.js'
import { GroupCommit, isBusy, sqliteError } from './group-commit.js'
import { LATEST_VERSION, MIGRATIONS } from './migrations.js'

export interface SqliteStoreOptions {
  /** The database file, created with its folder if missing; `':memory:'` for a private in-memory store. */
  path: string
  /** Every time decision (run times, leases, retention) reads this clock. @defaultValue `Date.now` */
  clock?: () => number
  /**
   * How long a write may wait for other processes holding the database's write lock before it
   * fails with `STORE_BUSY`. @defaultValue 30000
   */
  busyTimeoutMs?: number
  /** Poll for other processes' commits this often where no `-wal` watch hears them (else ≥ 50 ms). @defaultValue 2 */
  changePollMs?: number
}

interface JobRow {
  seq: number
  id: string
  task: string
  queue: string
  state: JobState
  priority: number
  run_at: number
  attempt: number
  max_attempts: number
  lease: number
  worker_id: string | null
  lease_expires_at: number | null
  timeout_ms: number | null
  backoff: string | null
  key: string | null
  key_ttl_ms: number | null
  payload: string
  metadata: string | null
  result: string | null
  progress: string | null
  errors: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
  webhook: string | null
  webhook_due: number
  error_fingerprint: string | null
  group_key: string | null
  group_rank: number | null
}

/** A registry row as SQLite holds it: queues as JSON text, times in epoch ms. */
type StoredWorker = Omit<WorkerRow, 'queues' | 'started_at' | 'last_seen_at'> & { queues: string; started_at: number; last_seen_at: number }
type StoredWorkerJob = Omit<WorkerJobRow, 'started_at' | 'progress'> & { started_at: number | null; progress: string | null }

/** The columns a finished job's key release and event need. */
interface FinishedRow {
  seq: number
  id: string
  task: string
  queue: string
  attempt: number
  key: string | null
  key_ttl_ms: number | null
}

const FINISHED_COLUMNS = 'seq, id, task, queue, attempt, key, key_ttl_ms'
/** What `jobInsertMany` writes per job, in the order its statements bind them. */
const JOB_INSERT_COLUMNS = [
  'id', 'task', 'queue', 'state', 'priority', 'run_at', 'max_attempts', 'timeout_ms', 'backoff', 'key', 'key_ttl_ms', 'payload', 'metadata', 'created_at',
  'webhook', 'group_key', 'group_rank',
] as const
/** Rows per multi-row INSERT, largest first: 128 × 17 parameters is far below SQLite's limit of 32,766. */
const INSERT_BLOCK_SIZES = [128, 64, 32, 16, 8, 4, 2, 1] as const
const UNFINISHED_SQL = `('scheduled', 'queued', 'running', 'retrying')`
/** Set in the statement of every final transition: the job's finish is due for a webhook delivery if it has a webhook. */
const WEBHOOK_DUE_SQL = 'webhook_due = webhook IS NOT NULL'
// Every limit is written `LIMIT +?`, never `LIMIT ?`: SQLite built with STAT4 (as better-sqlite3
// builds it) lets the planner look at a bare parameter in LIMIT, and then re-prepares the statement
// every time it runs with a new binding — 4 µs for a one-line query, some 35 µs for the claim, most
// of the claim of one job. As an expression the limit is only evaluated at run time.

/**
 * The start of a LIMIT that is 0 for a paused queue (bound after the queue's name), and then its
 * limit: `LIMIT ${UNLESS_PAUSED}+?)`. The check belongs in the LIMIT, evaluated once before the
 * scan, not in the WHERE: SQLite tests a WHERE term at every row, even one that names no column,
 * so a claim from a paused queue with a million jobs waiting would walk all of them.
 */
const UNLESS_PAUSED = `iif(EXISTS (SELECT 1 FROM offload_queues WHERE name = ? AND paused = 1), 0, `

/**
 * What `jobCounts` and `queueList` read, none of it in proportion to the jobs: the maintained
 * counts, the paused flags, and for each queue with queued jobs the run time of its oldest one. The
 * ready index orders run times only within a priority, so that last is a skip-scan: a seek for the
 * queue's highest priority, one for each next lower one, and one per priority for its earliest run
 * time — a few seeks per queue, whether it holds ten jobs or ten million. Exported for the plan test.
 */
export const QUEUE_READ_SQL = {
  counts: 'SELECT queue, state, n AS count FROM offload_queue_counts WHERE n > 0 ORDER BY queue, state',
  oldest: `WITH RECURSIVE heads (queue, priority) AS (
      SELECT c.queue, (SELECT j.priority FROM offload_jobs j WHERE j.state = 'queued' AND j.queue = c.queue ORDER BY j.priority DESC LIMIT 1)
      FROM offload_queue_counts c WHERE c.state = 'queued' AND c.n > 0
      UNION ALL
      SELECT h.queue, (SELECT j.priority FROM offload_jobs j WHERE j.state = 'queued' AND j.queue = h.queue AND j.priority < h.priority
        ORDER BY j.priority DESC LIMIT 1)
      FROM heads h WHERE h.priority IS NOT NULL
    )
    SELECT h.queue, min((SELECT j.run_at FROM offload_jobs j WHERE j.state = 'queued' AND j.queue = h.queue AND j.priority = h.priority
      ORDER BY j.group_rank, j.run_at LIMIT 1)) AS oldest
    FROM heads h WHERE h.priority IS NOT NULL GROUP BY h.queue`,
  paused: 'SELECT name, paused FROM offload_queues',
} as const

/** The ready index's order, which claims follow. */
const READY_ORDER = 'priority DESC, group_rank, run_at, seq'
/** The most ready rows a limited claim reads per queue looking for jobs it may take. */
const CLAIM_SCAN_MAX = 10_000
/** What a claim sets, bound to the worker's id, the lease expiry and now. */
const CLAIM_SET_SQL = `state = 'running', attempt = attempt + 1, lease = lease + 1, worker_id = ?, lease_expires_at = ?, started_at = ?`
/** What a claim returns: a `ClaimRow`. */
const CLAIM_RETURNING_SQL = `seq, id, task, queue, payload, metadata, priority, run_at, attempt, max_attempts, lease, timeout_ms,
  backoff, key, created_at, group_key, group_rank`
/** A claim needs no fsync of its own: the claimed job's outcome syncs it (see GroupCommit). */
const CLAIM = { durable: false }
/** Nor does the worker registry: a beat lost to a power cut is made good by the next one. */
const REGISTRY = { durable: false }
/** Nor do breaker outcomes and probes: losing the last few to a power cut only shifts a failure rate. */
const BREAKER_WRITE = { durable: false }
/** Failed jobs fingerprinted per transaction by `migrate()`'s backfill: short enough not to hold the write lock long. */
const BACKFILL_BATCH = 1000
/**
 * A manual retry's change to a failed or cancelled job: queued now (`?`), attempts from zero. The
 * old run's progress would describe work that starts over; its errors stay, for the record.
 */
const RETRY_SET_SQL = `state = 'queued', attempt = 0, run_at = ?, finished_at = NULL, result = NULL, progress = NULL,
  worker_id = NULL, lease_expires_at = NULL, error_fingerprint = NULL`

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk
 * before any promise resolves. Writes from the whole process go through one `GroupCommit`; reads
 * run directly (WAL readers never wait for writers). Several processes may share the file: the
 * write lock serialises their transactions, and `ChangeWatcher` wakes each on the others' commits.
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities = { listen: true, transactionalEnqueue: false }
  readonly description: string
  private readonly db: Db
  private readonly clock: () => number
  private readonly busyTimeoutMs: number
  private readonly writes: GroupCommit
  private readonly watcher: ChangeWatcher
  private readonly listeners = new Set<(note: StoreNote) => void>()
  private readonly statements = new Map<string, Statement>()
  /** `claimStatement`'s and `readyStatement`'s by number of queues, `jobInsertStatement`'s by block size: their texts are long to hash. */
  private readonly claimStatements: Statement[] = []
  private readonly readyStatements: Statement[] = []
  private readonly rowInserts: Statement[] = []
  private readonly uniformInserts: Statement[] = []
  /** The moves of the ops of the group commit under way that succeeded so far (see `write`). */
  private batchMoves = new CountMoves()
  private closed = false
  private closing: Promise<void> | undefined

  constructor(options: SqliteStoreOptions) {
    const path = options.path === ':memory:' ? ':memory:' : resolve(options.path)
    this.description = `sqlite:${options.path}`
    this.clock = options.clock ?? Date.now
    this.busyTimeoutMs = options.busyTimeoutMs ?? 30_000
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.db = new Database(path)
      // Opening is synchronous, so it cannot retry on a timer: while several processes open a new
      // file at once, switching it to WAL needs a lock the others briefly hold, so wait for it here.
      this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`)
      if (path !== ':memory:') this.db.pragma('journal_mode = WAL')
      // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss,
      // not only a process crash. NORMAL would be faster and lose the last commits on power loss.
      this.db.pragma('synchronous = FULL')
      this.db.pragma('journal_size_limit = 67108864')
      // Sorts and temporary indexes (claim ordering, GROUP BY) stay in memory instead of temp files.
      this.db.pragma('temp_store = MEMORY')
      // From now on a short in-library wait absorbs the common case (another process's commit
      // takes well under a millisecond) without blocking our event loop for long; GroupCommit
      // retries longer waits on a timer.
      this.db.pragma('busy_timeout = 20')
    } catch (error) {
      throw sqliteError(error, options.path)
    }
    this.writes = new GroupCommit(this.db, this.busyTimeoutMs, (notes) => this.emit(notes), {
      begin: () => (this.batchMoves = new CountMoves()),
      end: () => this.countMoves(this.batchMoves),
    })
    this.watcher = new ChangeWatcher(this.db, options.changePollMs ?? 2, () => this.emit([{ kind: 'changed' }]))
  }

  async now(): Promise<number> {
    this.assertOpen()
    return this.clock()
  }

  async migrate(): Promise<{ applied: number[]; version: number }> {
    this.assertOpen()
    const result = await this.retryBusy(() =>
      this.db
        .transaction(() => {
          this.db.exec(`CREATE TABLE IF NOT EXISTS offload_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`)
          const current = (this.db.prepare('SELECT max(version) FROM offload_migrations').pluck().get() as number | null) ?? 0
          if (current > LATEST_VERSION) {
            throw new OffloadError(
              'SCHEMA_TOO_NEW',
              `${this.description} is at schema version ${current}, newer than this Offload knows (${LATEST_VERSION}); upgrade Offload`,
              { version: current, supported: LATEST_VERSION },
            )
          }
          const applied: number[] = []
          for (const migration of MIGRATIONS) {
            if (migration.version <= current) continue
            this.db.exec(migration.sql)
            this.db
              .prepare('INSERT INTO offload_migrations (version, name, applied_at) VALUES (?, ?, ?)')
              .run(migration.version, migration.name, this.clock())
            applied.push(migration.version)
          }
          return { applied, version: Math.max(current, ...applied) }
        })
        .immediate(),
    )
    await this.fingerprintBackfill()
    return result
  }

  /**
   * Fingerprints failed jobs that have none: those failed before migration 4 added fingerprints
   * (a hash in JS, so no migration's SQL can compute it). Batched, a transaction each; a batch
   * that finds nothing left ends it, so a later start (after a crash midway) finishes the job and
   * every other start costs one look at the failed-jobs index.
   */
  private async fingerprintBackfill(): Promise<void> {
    for (let done = false; !done; ) {
      done = await this.write(() => {
        const rows = this.sql(`SELECT seq, errors FROM offload_jobs WHERE state = 'failed' AND error_fingerprint IS NULL LIMIT +?`).all(
          BACKFILL_BATCH,
        ) as { seq: number; errors: string | null }[]
        const set = this.sql('UPDATE offload_jobs SET error_fingerprint = ? WHERE seq = ?')
        for (const row of rows) set.run(failureFingerprint(row.errors === null ? [] : (JSON.parse(row.errors) as StoredError[])), row.seq)
        return rows.length < BACKFILL_BATCH
      })
    }
  }

  close(): Promise<void> {
    // Closed at once for new calls (they reject with CLOSED); the connection itself closes only
    // after the writes already submitted have committed, so their callers' promises resolve.
    this.closed = true
    this.closing ??= (async () => {
      this.watcher.stop()
      await this.writes.close()
      this.listeners.clear()
      this.db.close()
    })()
    return this.closing
  }

  listen(listener: (note: StoreNote) => void): () => void {
    this.listeners.add(listener)
    if (!this.closed) this.watcher.start()
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) this.watcher.stop()
    }
  }

  // ─── Enqueue ──────────────────────────────────────────────────────────────────────────────────

  jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    return this.write((notes, moves) => this.jobInsertIn(params, notes, moves))
  }

  /** `jobInsertMany` inside a write transaction already under way: shared with the writes that also create jobs (a schedule's tick). */
  private jobInsertIn(params: JobInsertManyParams, notes: StoreNote[], moves: CountMoves): JobInsertResult[] {
      const at = params.now ?? this.clock()
      // Inside the write transaction nobody else inserts, and a new row's seq is one more than the
      // largest: the rows above `before` are exactly this call's, in input order.
      const before = this.lastJobSeq()
      const keyTake = this.sql('INSERT OR REPLACE INTO offload_keys (task, key, job_seq, expires_at) VALUES (?, ?, ?, NULL)')
      const results: JobInsertResult[] = new Array(params.jobs.length)
      const readyQueues = new Set<string>()
      const caps = params.maxQueued !== undefined && params.maxQueued.size > 0 ? params.maxQueued : undefined
      /** Per capped queue this batch adds to: how many jobs were queued before it, and how many it adds. */
      const tally = new Map<string, { queued: number; added: number }>()
      let earliestDue = Infinity
      let inserted = 0
      // Rows waiting to go in multi-row INSERTs, as indexes into params.jobs: a statement per row
      // would cost several times the row itself. A keyed job goes alone, after them, since its key
      // row needs its seq.
      const runAts: number[] = new Array(params.jobs.length)
      const ranks = this.groupRanks()
      let run: number[] = []
      for (let i = 0; i < params.jobs.length; i++) {
        const job = params.jobs[i]!
        if (job.key !== undefined) {
          const holder = this.keyHolder(job.task, job.key, at)
          if (holder !== undefined) {
            results[i] = { ...holder, existing: true }
            continue
          }
        }
        const runAt = (runAts[i] = job.runAt ?? at + (job.delayMs ?? 0))
        const state = stateAt(runAt, at)
        // Checked before the job is written, so a batch over the cap stops at its first job too many.
        if (caps !== undefined && state === 'queued') this.queueRoomTake(caps, tally, job.queue)
        inserted++
        if (job.group !== undefined) ranks.assign(i, job.queue, job.group)
        if (job.key === undefined) run.push(i)
        else {
          this.insertJobRows(params.jobs, run, runAts, at, ranks)
          run = []
          this.insertJobRows(params.jobs, [i], runAts, at, ranks)
          keyTake.run(job.task, job.key, before + inserted)
        }
        if (state === 'queued') readyQueues.add(job.queue)
        else earliestDue = Math.min(earliestDue, runAt)
        results[i] = { id: job.id, state, existing: false }
        moves.move(job.queue, undefined, state)
      }
      this.insertJobRows(params.jobs, run, runAts, at, ranks)
      this.groupRanksSave(ranks)
      this.enqueuedEvents(before, inserted, at)
      for (const queue of readyQueues) notes.push({ kind: 'ready', queue })
      if (earliestDue !== Infinity) notes.push({ kind: 'due', runAt: earliestDue })
      return results
  }

  private groupRanks(): GroupRanks {
    return new GroupRanks(
      this.sql('SELECT next_rank FROM offload_groups WHERE queue = ? AND group_key = ?').pluck(),
      this.sql('SELECT rank_head FROM offload_queue_flow WHERE queue = ?').pluck(),
    )
  }

  private groupRanksSave(ranks: GroupRanks): void {
    ranks.save(this.sql(`INSERT INTO offload_groups (queue, group_key, next_rank) VALUES (?, ?, ?)
      ON CONFLICT (queue, group_key) DO UPDATE SET next_rank = excluded.next_rank`))
  }

  /**
   * Counts one more new `queued` job of `queue` against its cap in `caps`, if it has one; throws
   * `QueueFullError` when the queue has no room left. The first job of a queue in a batch counts
   * the jobs already queued there — at most `limit` of them, from the ready index — before any of
   * the batch's jobs of that queue is written.
   */
  private queueRoomTake(caps: ReadonlyMap<string, number>, tally: Map<string, { queued: number; added: number }>, queue: string): void {
    const limit = caps.get(queue)
    if (limit === undefined) return
    let counted = tally.get(queue)
    if (counted === undefined) {
      const queued = this.sql(`SELECT count(*) FROM (SELECT 1 FROM offload_jobs WHERE state = 'queued' AND queue = ? LIMIT +?)`)
        .pluck()
        .get(queue, limit) as number
      tally.set(queue, (counted = { queued, added: 0 }))
    }
    if (counted.queued + counted.added >= limit) throw new QueueFullError(queue, limit, counted.queued)
    counted.added++
  }

  /** The `enqueued` events of the `inserted` jobs this transaction wrote above seq `before`, in one statement, in insertion order. */
  private enqueuedEvents(before: number, inserted: number, at: number): void {
    if (inserted === 0) return
    const logged = this.sql(`INSERT INTO offload_events (job_seq, at, type, state, attempt, data)
      SELECT seq, ?, 'enqueued', state, 0, NULL FROM offload_jobs WHERE seq > ? ORDER BY seq`).run(at, before).changes
    // SQLite numbers rows max + 1 until seq reaches 2^63 − 1; past that it picks at random, and
    // the rows of this call could no longer be told apart. Refuse rather than log them wrongly.
    if (logged !== inserted) throw new OffloadError('STORE_UNAVAILABLE', `${this.description}: job seq numbers are exhausted`)
  }

  /**
   * Inserts `jobs[rows[0]]`, `jobs[rows[1]]`, … in order, in blocks of 128, 64, …, 1 rows, so a
   * few cached statements cover every batch size. Rows that differ only in id and payload (an
   * enqueueMany of one task without per-job options, the usual bulk) bind the other twelve
   * columns once per statement instead of once per row: binding is a good part of a row's cost.
   */
  private insertJobRows(jobs: readonly JobInsert[], rows: readonly number[], runAts: readonly number[], at: number, ranks?: GroupRanks): void {
    if (rows.length === 0) return
    const first = jobs[rows[0]!]!
    const firstRunAt = runAts[rows[0]!]!
    let uniform = first.group === undefined
    for (let k = 1; k < rows.length && uniform; k++) uniform = runAts[rows[k]!] === firstRunAt && sameColumns(jobs[rows[k]!]!, first)
    const shared = uniform ? sharedColumns(first, firstRunAt, at) : undefined
    let next = 0
    for (let size = 0; size < INSERT_BLOCK_SIZES.length; size++) {
      const block = INSERT_BLOCK_SIZES[size]!
      if (rows.length - next < block) continue
      const statement = this.jobInsertStatement(size, uniform)
      for (; rows.length - next >= block; next += block) {
        const values: unknown[] = []
        for (let k = next; k < next + block; k++) {
          const job = jobs[rows[k]!]!
          if (uniform) values.push(job.id, job.payload)
          else values.push(...jobColumns(job, runAts[rows[k]!]!, at, ranks?.of(rows[k]!)))
        }
        if (shared === undefined) statement.run(values)
        else statement.run(values, shared)
      }
    }
  }

  /**
   * The multi-row INSERT of `INSERT_BLOCK_SIZES[size]` jobs; `uniform`: only id and payload per
   * row, the other columns named. Kept in an array: as a key of the text-keyed cache, the
   * statement's text (20 kB for 128 rows) would be built and hashed again on every use.
   */
  private jobInsertStatement(size: number, uniform: boolean): Statement {
    const cache = uniform ? this.uniformInserts : this.rowInserts
    let statement = cache[size]
    if (statement === undefined) {
      const row = `(${JOB_INSERT_COLUMNS.map((column) => (uniform && column !== 'id' && column !== 'payload' ? `@${column}` : '?')).join(', ')})`
      const rows = Array.from({ length: INSERT_BLOCK_SIZES[size]! }, () => row).join(', ')
      statement = cache[size] = this.db.prepare(`INSERT INTO offload_jobs (${JOB_INSERT_COLUMNS.join(', ')}) VALUES ${rows}`)
    }
    return statement
  }

  // ─── Reads ────────────────────────────────────────────────────────────────────────────────────

  jobGet(params: { id: string }): Promise<JobInfo | undefined> {
    return this.read(() => {
      const row = this.sql('SELECT * FROM offload_jobs WHERE id = ?').get(params.id) as JobRow | undefined
      return row === undefined ? undefined : toJobInfo(row)
    })
  }

  jobList(params: JobListParams): Promise<JobInfo[]> {
    return this.read(() => {
      const where: string[] = []
      const args: unknown[] = []
      if (params.states !== undefined && params.states.length > 0) {
        where.push(`state IN (${params.states.map(() => '?').join(', ')})`)
        args.push(...params.states)
      }
      if (params.queue !== undefined) {
        where.push('queue = ?')
        args.push(params.queue)
      }
      if (params.task !== undefined) {
        where.push('task = ?')
        args.push(params.task)
      }
      // Each reads its own partial index (the state literal lets SQLite use the failed-jobs one).
      if (params.key !== undefined) {
        where.push('key = ?')
        args.push(params.key)
      }
      if (params.fingerprint !== undefined) {
        where.push(`state = 'failed' AND error_fingerprint = ?`)
        args.push(params.fingerprint)
      }
      if (params.before !== undefined) {
        where.push('id < ?')
        args.push(params.before)
      }
      const sql = `SELECT * FROM offload_jobs ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY id DESC LIMIT +?`
      return (this.sql(sql).all(...args, params.limit) as JobRow[]).map(toJobInfo)
    })
  }

  jobCounts(): Promise<JobCount[]> {
    return this.read(() => this.sql(QUEUE_READ_SQL.counts).all() as JobCount[])
  }

  eventList(params: EventListParams): Promise<JobEvent[]> {
    return this.read(() => {
      const columns = `e.seq, j.id, j.task, j.queue, e.at, e.type, e.state, e.attempt, e.data`
      const rows =
        params.jobId === undefined
          ? this.sql(`SELECT ${columns} FROM offload_events e JOIN offload_jobs j ON j.seq = e.job_seq
              WHERE e.seq > ? ORDER BY e.seq LIMIT +?`).all(params.after ?? 0, params.limit)
          : this.sql(`SELECT ${columns} FROM offload_jobs j JOIN offload_events e ON e.job_seq = j.seq
              WHERE j.id = ? AND e.seq > ? ORDER BY e.seq LIMIT +?`).all(params.jobId, params.after ?? 0, params.limit)
      return (rows as EventRow[]).map(toJobEvent)
    })
  }

  eventLastSeq(): Promise<number> {
    return this.read(() => this.sql('SELECT coalesce(max(seq), 0) FROM offload_events').pluck().get() as number)
  }

  // ─── Claim, heartbeat, finish ─────────────────────────────────────────────────────────────────

  async jobClaim(params: JobClaimParams): Promise<ClaimedJob[]> {
    if ((params.queues.length === 0 || params.limit <= 0) && !this.closed) return []
    // Look before taking the write lock: idle workers in several processes wake on every commit,
    // and a read costs them nothing while a write would queue them behind the real writers.
    const queueArgs = params.queues.flatMap((queue) => [queue, queue])
    const any = await this.read(() => this.readyStatement(params.queues.length).get(...queueArgs))
    if (any === 0) return []
    const limited = (params.exclude !== undefined && params.exclude.length > 0) || params.queues.some((queue) => params.limits?.has(queue))
    return this.write((_notes, moves) => {
      const at = params.now ?? this.clock()
      // Rows as arrays: better-sqlite3 builds a keyed object per row by setting each property by
      // name, a microsecond a row for these 17 columns.
      const rows = limited
        ? this.claimLimited(params, at, moves)
        : (this.claimStatement(params.queues.length).all(
            params.workerId,
            at + params.leaseMs,
            at,
            ...params.queues.flatMap((queue) => [queue, queue, params.limit]),
            params.limit,
          ) as ClaimRow[])
      rows.sort(claimOrder)
      this.rankHeadsAdvance(rows)
      const claimed: ClaimedJob[] = new Array(rows.length)
      const started: [seq: number, attempt: number][] = new Array(rows.length)
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!
        started[i] = [row[0], row[8]]
        moves.move(row[3], 'queued', 'running')
        claimed[i] = {
          id: row[1],
          task: row[2],
          queue: row[3],
          payload: JSON.parse(row[4]),
          metadata: row[5] === null ? {} : (JSON.parse(row[5]) as Record<string, Json>),
          priority: row[6],
          attempt: row[8],
          maxAttempts: row[9],
          lease: row[10],
          timeoutMs: row[11] ?? undefined,
          backoff: row[12] === null ? undefined : (JSON.parse(row[12]) as ResolvedBackoff),
          key: row[13] ?? undefined,
          createdAt: new Date(row[14]),
          runAt: new Date(row[7]),
        }
        if (row[15] !== null) claimed[i]!.group = row[15]
      }
      this.events(started, at, 'started', 'running', JSON.stringify({ workerId: params.workerId }))
      return claimed
    }, CLAIM)
  }

  /** Whether any of `queueCount` queues (each bound twice) holds a queued job and is not paused: 1 or 0. */
  private readyStatement(queueCount: number): Statement {
    const cached = this.readyStatements[queueCount]
    if (cached !== undefined) return cached
    const perQueue = `EXISTS (SELECT 1 FROM offload_jobs WHERE state = 'queued' AND queue = ? LIMIT ${UNLESS_PAUSED}1))`
    const any = Array.from({ length: queueCount }, () => perQueue).join(' OR ')
    return (this.readyStatements[queueCount] = this.db.prepare(`SELECT ${any}`).pluck())
  }

  /**
   * One claim statement per number of queues. Each queue's best candidates come from its own
   * range of the partial ready index (already in priority order), so the final sort handles at
   * most `limit × queues` rows however many jobs wait.
   */
  private claimStatement(queueCount: number): Statement {
    const cached = this.claimStatements[queueCount]
    if (cached !== undefined) return cached
    const perQueue = `SELECT * FROM (SELECT seq, priority, group_rank, run_at FROM offload_jobs
      WHERE state = 'queued' AND queue = ? ORDER BY ${READY_ORDER} LIMIT ${UNLESS_PAUSED}+?))`
    const candidates = Array.from({ length: queueCount }, () => perQueue).join(' UNION ALL ')
    return (this.claimStatements[queueCount] = this.db
      .prepare(
        `UPDATE offload_jobs SET ${CLAIM_SET_SQL}
      WHERE seq IN (SELECT seq FROM (${candidates}) ORDER BY ${READY_ORDER} LIMIT +?)
      RETURNING ${CLAIM_RETURNING_SQL}`,
      )
      .raw())
  }

  /**
   * The claim of queues with limits, or with jobs to pass over: each queue's room (its concurrency
   * limit less its running jobs, its rate limit less this window's claims, the claim's limit) is
   * filled from the ready index in claim order, passing over excluded jobs and jobs of groups at
   * their limit. Runs inside the write transaction, so no other claim — in this process or another
   * — sees the counts between this one's reads and its update.
   */
  private claimLimited(params: JobClaimParams, at: number, moves: CountMoves): ClaimRow[] {
    const picked: Candidate[] = []
    const rates: { queue: string; window: number; used: number }[] = []
    const excluded = exclusionTest(params.exclude)
    for (const queue of params.queues) {
      if (this.sql('SELECT 1 FROM offload_queues WHERE name = ? AND paused = 1').get(queue) !== undefined) continue
      const limits = params.limits?.get(queue)
      let room = params.limit
      if (limits?.concurrency !== undefined) {
        const stored = (this.sql(`SELECT n FROM offload_queue_counts WHERE queue = ? AND state = 'running'`).pluck().get(queue) as number | undefined) ?? 0
        // The counts table holds what earlier group commits wrote; this commit's moves so far are in memory.
        const running = stored + this.batchMoves.get(queue, 'running') + moves.get(queue, 'running')
        room = Math.min(room, limits.concurrency - running)
      }
      if (limits?.rate !== undefined) {
        const window = at - (at % limits.rate.intervalMs)
        const flow = this.sql('SELECT rate_window, rate_used FROM offload_queue_flow WHERE queue = ?').get(queue) as
          | { rate_window: number; rate_used: number }
          | undefined
        const used = flow?.rate_window === window ? flow.rate_used : 0
        room = Math.min(room, limits.rate.limit - used)
        rates.push({ queue, window, used })
      }
      if (room <= 0) continue
      const groupLimit = limits?.groupConcurrency
      const groupRunning = new Map<string, number>()
      // The task only when there are exclusions to test: without it the ready index covers the read.
      const candidates = this.sql(`SELECT seq, priority, group_rank, run_at, group_key, ${params.exclude?.length ? 'task' : "'' AS task"}
        FROM offload_jobs WHERE state = 'queued' AND queue = ? ORDER BY ${READY_ORDER} LIMIT +? OFFSET +?`).raw()
      let taken = 0
      // Read in growing pages: most claims fill their room from the first; one that passes over a
      // group at its limit or a task whose breaker is open reads on, up to CLAIM_SCAN_MAX rows.
      for (let offset = 0, page = room + 16; taken < room && offset < CLAIM_SCAN_MAX; offset += page, page *= 4) {
        const rows = candidates.all(queue, page, offset) as Candidate[]
        if (groupLimit !== undefined) this.groupsRunning(queue, rows, groupRunning)
        for (const row of rows) {
          const group = row[4]
          if (excluded(row[5], group)) continue
          if (groupLimit !== undefined && group !== null) {
            const running = groupRunning.get(group)!
            if (running >= groupLimit) continue
            groupRunning.set(group, running + 1)
          }
          picked.push(row)
          if (++taken === room) break
        }
        if (rows.length < page) break
      }
    }
    picked.sort((a, b) => b[1] - a[1] || rankOrder(a[2], b[2]) || a[3] - b[3] || a[0] - b[0])
    const seqs = picked.slice(0, params.limit).map((row) => row[0])
    if (seqs.length === 0 && rates.length === 0) return []
    const rows = seqs.length === 0 ? [] : (this.sql(`UPDATE offload_jobs SET ${CLAIM_SET_SQL}
      WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ${CLAIM_RETURNING_SQL}`)
      .raw()
      .all(params.workerId, at + params.leaseMs, at, JSON.stringify(seqs)) as ClaimRow[])
    const rateSave = this.sql(`INSERT INTO offload_queue_flow (queue, rate_window, rate_used) VALUES (?, ?, ?)
      ON CONFLICT (queue) DO UPDATE SET rate_window = excluded.rate_window, rate_used = excluded.rate_used`)
    for (const { queue, window, used } of rates) {
      const claimed = rows.reduce((n, row) => (row[3] === queue ? n + 1 : n), 0)
      if (claimed > 0) rateSave.run(queue, window, used + claimed)
    }
    return rows
  }

  /**
   * Adds to `running` the running jobs of each group of `rows` it lacks, in one statement (a seek
   * per group in the index of running grouped jobs), with 0 for groups that have none.
   */
  private groupsRunning(queue: string, rows: readonly Candidate[], running: Map<string, number>): void {
    const missing = [...new Set(rows.map((row) => row[4]).filter((group) => group !== null && !running.has(group)))] as string[]
    if (missing.length === 0) return
    for (const group of missing) running.set(group, 0)
    const counts = this.sql(`SELECT group_key, count(*) FROM offload_jobs
      WHERE state = 'running' AND queue = ? AND group_key IN (SELECT value FROM json_each(?)) GROUP BY group_key`)
      .raw()
      .all(queue, JSON.stringify(missing)) as [string, number][]
    for (const [group, count] of counts) running.set(group, count)
  }

  /** Moves each queue's round-robin head up to the highest group rank just claimed in it. */
  private rankHeadsAdvance(rows: readonly ClaimRow[]): void {
    let heads: Map<string, number> | undefined
    for (const row of rows) {
      const rank = row[16]
      if (rank === null) continue
      heads ??= new Map()
      heads.set(row[3], Math.max(heads.get(row[3]) ?? rank, rank))
    }
    if (heads === undefined) return
    const save = this.sql(`INSERT INTO offload_queue_flow (queue, rank_head) VALUES (?, ?)
      ON CONFLICT (queue) DO UPDATE SET rank_head = max(rank_head, excluded.rank_head)`)
    for (const [queue, rank] of heads) save.run(queue, rank)
  }

  jobHeartbeat(params: JobHeartbeatParams): Promise<LostLease[]> {
    if (params.leases.length === 0 && !this.closed) return Promise.resolve([])
    return this.write(() => {
      const at = params.now ?? this.clock()
      const extend = this.sql(`UPDATE offload_jobs SET lease_expires_at = ?
        WHERE id = ? AND lease = ? AND state = 'running'`)
      const stateOf = this.sql('SELECT state FROM offload_jobs WHERE id = ?').pluck()
      const lost: LostLease[] = []
      for (const { id, lease } of params.leases) {
        if (extend.run(at + params.leaseMs, id, lease).changes === 0) {
          lost.push({ id, state: (stateOf.get(id) as JobState | undefined) ?? 'missing' })
        }
      }
      return lost
    })
  }

  jobFinishMany(params: JobFinishManyParams): Promise<boolean[]> {
    if (params.finishes.length === 0 && !this.closed) return Promise.resolve([])
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const applied: boolean[] = new Array(params.finishes.length)
      const finishedIds: string[] = []
      const readyQueues = new Set<string>()
      let earliestDue = Infinity
      // Runs of completions go in one statement; other outcomes one by one, in order, so two
      // finishes of the same lease in one batch resolve as they would one after the other.
      let completions: number[] = []
      const completeRun = (): void => {
        if (completions.length === 0) return
        const done = this.completeMany(
          completions.map((i) => params.finishes[i] as JobLeaseRef & { result: string }),
          at,
          moves,
        )
        for (const i of completions) {
          const id = params.finishes[i]!.id
          applied[i] = done.delete(id)
          if (applied[i]) finishedIds.push(id)
        }
        completions = []
      }
      for (let i = 0; i < params.finishes.length; i++) {
        const finish = params.finishes[i]!
        if (finish.outcome === 'completed') {
          completions.push(i)
          continue
        }
        completeRun()
        const row = this.finishOne(finish, at)
        applied[i] = row !== undefined
        if (row === undefined) continue
        moves.move(row.queue, 'running', FINISH_STATES[finish.outcome])
        switch (finish.outcome) {
          case 'failed':
            finishedIds.push(row.id)
            break
          case 'released':
            readyQueues.add(row.queue)
            break
          case 'retry':
          case 'snoozed':
            earliestDue = Math.min(earliestDue, at + finish.delayMs)
        }
      }
      completeRun()
      if (finishedIds.length > 0) notes.push({ kind: 'finished', ids: finishedIds })
      for (const queue of readyQueues) notes.push({ kind: 'ready', queue })
      if (earliestDue !== Infinity) notes.push({ kind: 'due', runAt: earliestDue })
      return applied
    })
  }

  /**
   * Completes many jobs in one statement and writes their events in another: the common outcome
   * costs two statements per batch instead of two per job, about a fifth of a drain's CPU.
   * Returns the ids whose lease still held.
   */
  private completeMany(completions: readonly (JobLeaseRef & { result: string })[], at: number, moves: CountMoves): Set<string> {
    const rows = this.sql(`UPDATE offload_jobs SET state = 'completed', result = c.value ->> 2, finished_at = ?,
        worker_id = NULL, lease_expires_at = NULL, ${WEBHOOK_DUE_SQL}
      FROM json_each(?) AS c
      WHERE offload_jobs.id = c.value ->> 0 AND offload_jobs.lease = c.value ->> 1 AND offload_jobs.state = 'running'
      RETURNING seq, attempt, id, task, key, key_ttl_ms, queue`)
      .raw()
      .all(at, JSON.stringify(completions.map((completion) => [completion.id, completion.lease, completion.result]))) as CompletedRow[]
    const completed: [seq: number, attempt: number][] = new Array(rows.length)
    const done = new Set<string>()
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!
      completed[i] = [row[0], row[1]]
      done.add(row[2])
      moves.move(row[6], 'running', 'completed')
      if (row[4] !== null) this.releaseKey({ seq: row[0], task: row[3], key: row[4], key_ttl_ms: row[5] }, at)
    }
    this.events(completed, at, 'completed', 'completed', null)
    return done
  }

  private finishOne(finish: Exclude<JobFinish, { outcome: 'completed' }>, at: number): FinishedRow | undefined {
    const fence = `WHERE id = ? AND lease = ? AND state = 'running' RETURNING ${FINISHED_COLUMNS}`
    switch (finish.outcome) {
      case 'retry': {
        const runAt = at + finish.delayMs
        const row = this.sql(`UPDATE offload_jobs SET state = 'retrying', run_at = ?,
          errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', attempt, 'at', ?, 'name', ?, 'message', ?, 'stack', ?)),
          worker_id = NULL, lease_expires_at = NULL ${fence}`).get(
          runAt, at, finish.error.name, finish.error.message, finish.error.stack ?? null, finish.id, finish.lease,
        ) as FinishedRow | undefined
        if (row !== undefined) {
          this.event(row.seq, at, 'retrying', 'retrying', row.attempt, { error: errorData(finish.error), runAt: new Date(runAt).toISOString() })
        }
        return row
      }
      case 'failed': {
        const row = this.sql(`UPDATE offload_jobs SET state = 'failed', finished_at = ?,
          errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', attempt, 'at', ?, 'name', ?, 'message', ?, 'stack', ?)),
          error_fingerprint = ?, worker_id = NULL, lease_expires_at = NULL, ${WEBHOOK_DUE_SQL} ${fence}`).get(
          at, at, finish.error.name, finish.error.message, finish.error.stack ?? null, errorFingerprint(finish.error), finish.id, finish.lease,
        ) as FinishedRow | undefined
        if (row !== undefined) {
          this.event(row.seq, at, 'failed', 'failed', row.attempt, { error: errorData(finish.error) })
          this.releaseKey(row, at)
        }
        return row
      }
      case 'snoozed': {
        const runAt = at + finish.delayMs
        const row = this.sql(`UPDATE offload_jobs SET state = 'scheduled', run_at = ?, attempt = attempt - 1,
          worker_id = NULL, lease_expires_at = NULL ${fence}`).get(runAt, finish.id, finish.lease) as FinishedRow | undefined
        if (row !== undefined) this.event(row.seq, at, 'snoozed', 'scheduled', row.attempt, { runAt: new Date(runAt).toISOString() })
        return row
      }
      case 'released': {
        const row = this.sql(`UPDATE offload_jobs SET state = 'queued', attempt = attempt - 1,
          worker_id = NULL, lease_expires_at = NULL ${fence}`).get(finish.id, finish.lease) as FinishedRow | undefined
        if (row !== undefined) this.event(row.seq, at, 'released', 'queued', row.attempt)
        return row
      }
    }
  }

  jobNoteMany(params: JobNoteManyParams): Promise<void> {
    if (params.notes.length === 0 && !this.closed) return Promise.resolve()
    return this.write((notes) => {
      const at = params.now ?? this.clock()
      const held = this.sql(`SELECT seq, attempt FROM offload_jobs WHERE id = ? AND lease = ? AND state = 'running'`)
      const setProgress = this.sql('UPDATE offload_jobs SET progress = ? WHERE seq = ?')
      const noted = new Set<string>()
      for (const note of params.notes) {
        const row = held.get(note.id, note.lease) as { seq: number; attempt: number } | undefined
        if (row === undefined) continue
        noted.add(note.id)
        if (note.progress !== undefined) {
          setProgress.run(note.progress, row.seq)
          this.event(row.seq, at, 'progress', 'running', row.attempt, { progress: JSON.parse(note.progress) as Json })
        }
        if (note.log !== undefined) this.event(row.seq, at, 'log', 'running', row.attempt, { message: note.log })
      }
      if (noted.size > 0) notes.push({ kind: 'progress', ids: [...noted] })
    })
  }

  // ─── Admin ────────────────────────────────────────────────────────────────────────────────────

  jobCancel(params: { id: string; now?: number }): Promise<JobInfo> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      // RETURNING says only the new state; the counts need the one the job leaves.
      const from = this.sql('SELECT state FROM offload_jobs WHERE id = ?').pluck().get(params.id) as JobState | undefined
      const row = this.sql(`UPDATE offload_jobs SET state = 'cancelled', finished_at = ?, worker_id = NULL, lease_expires_at = NULL,
        ${WEBHOOK_DUE_SQL} WHERE id = ? AND state IN ${UNFINISHED_SQL} RETURNING *`).get(at, params.id) as JobRow | undefined
      if (row === undefined) throw this.notApplicable(params.id, 'cancel', from)
      moves.move(row.queue, from, 'cancelled')
      this.event(row.seq, at, 'cancelled', 'cancelled', row.attempt)
      this.releaseKey(row, at)
      notes.push({ kind: 'finished', ids: [row.id] }, { kind: 'cancelled', ids: [row.id] })
      return toJobInfo(row)
    })
  }

  jobRetry(params: { id: string; now?: number }): Promise<JobInfo> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const current = this.sql(`SELECT seq, task, key, state FROM offload_jobs WHERE id = ?`).get(params.id) as
        | { seq: number; task: string; key: string | null; state: JobState }
        | undefined
      if (current === undefined || (current.state !== 'failed' && current.state !== 'cancelled')) {
        throw this.notApplicable(params.id, 'retry', current?.state)
      }
      const row = this.retryRow(current, at)
      if ('heldBy' in row) {
        throw new OffloadError(
          'INVALID_STATE',
          `job ${params.id} cannot be retried: its key '${current.key}' is held by unfinished job ${row.heldBy}`,
          { id: params.id, key: current.key, heldBy: row.heldBy },
        )
      }
      moves.move(row.queue, current.state, 'queued')
      notes.push({ kind: 'ready', queue: row.queue })
      return toJobInfo(row)
    })
  }

  jobRetryGroup(params: JobRetryGroupParams): Promise<number> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const filters = failureFilters(params)
      // Oldest first along the group's index; a job passed over (its key held) stays failed, so
      // the next page starts after the last job read rather than again from the top.
      const page = this.sql(`SELECT seq, id, task, key FROM offload_jobs
        WHERE state = 'failed' AND error_fingerprint = ? AND id > ?${filters.sql} ORDER BY id LIMIT +?`)
      const queues = new Set<string>()
      let retried = 0
      for (let after = ''; retried < params.limit; ) {
        const wanted = params.limit - retried
        const rows = page.all(params.fingerprint, after, ...filters.args, wanted) as { seq: number; id: string; task: string; key: string | null }[]
        for (const current of rows) {
          const row = this.retryRow(current, at)
          if ('heldBy' in row) continue
          retried++
          queues.add(row.queue)
          moves.move(row.queue, 'failed', 'queued')
        }
        if (rows.length < wanted) break
        after = rows[rows.length - 1]!.id
      }
      for (const queue of queues) notes.push({ kind: 'ready', queue })
      return retried
    })
  }

  /**
   * `jobRetry`'s change to a failed or cancelled job, with its key taken again; or, when another
   * unfinished job holds that key now, nothing changed and that job's id.
   */
  private retryRow(current: { seq: number; task: string; key: string | null }, at: number): JobRow | { heldBy: string } {
    if (current.key !== null) {
      const holder = this.sql(`SELECT k.job_seq, j.id FROM offload_keys k JOIN offload_jobs j ON j.seq = k.job_seq
        WHERE k.task = ? AND k.key = ? AND k.expires_at IS NULL`).get(current.task, current.key) as
        | { job_seq: number; id: string }
        | undefined
      if (holder !== undefined && holder.job_seq !== current.seq) return { heldBy: holder.id }
      this.sql('INSERT OR REPLACE INTO offload_keys (task, key, job_seq, expires_at) VALUES (?, ?, ?, NULL)').run(current.task, current.key, current.seq)
    }
    const row = this.sql(`UPDATE offload_jobs SET ${RETRY_SET_SQL} WHERE seq = ? RETURNING *`).get(at, current.seq) as JobRow
    this.event(row.seq, at, 'retried', 'queued', 0)
    return row
  }

  jobFailureGroups(params: JobFailureGroupsParams): Promise<FailureGroup[]> {
    return this.read(() =>
      // One read transaction: the groups and their samples from one snapshot.
      this.db.transaction(() => {
        const filters = failureFilters(params)
        const only = params.fingerprint === undefined ? '' : ' AND error_fingerprint = ?'
        const onlyArgs = params.fingerprint === undefined ? [] : [params.fingerprint]
        // The failure-groups index covers every column read here, so this never reads a job row.
        const groups = this.sql(`SELECT error_fingerprint AS fingerprint, count(*) AS count, min(finished_at) AS first,
            max(finished_at) AS last, json_group_array(DISTINCT task) AS tasks, json_group_array(DISTINCT queue) AS queues
          FROM offload_jobs WHERE state = 'failed' AND error_fingerprint IS NOT NULL${only}${filters.sql}
          GROUP BY error_fingerprint ORDER BY count DESC, last DESC, fingerprint LIMIT +?`).all(...onlyArgs, ...filters.args, params.limit) as {
          fingerprint: string
          count: number
          first: number
          last: number
          tasks: string
          queues: string
        }[]
        // A seek to the end of each group's range of the same index finds its newest failure.
        const newest = this.sql(`SELECT id, errors ->> '$[#-1].name' AS name, errors ->> '$[#-1].message' AS message,
            errors ->> '$[#-1].stack' AS stack
          FROM offload_jobs WHERE state = 'failed' AND error_fingerprint = ?${filters.sql} ORDER BY finished_at DESC, seq DESC LIMIT 1`)
        return groups.map((group): FailureGroup => {
          const sample = newest.get(group.fingerprint, ...filters.args) as { id: string; name: string | null; message: string | null; stack: string | null }
          return {
            fingerprint: group.fingerprint,
            count: group.count,
            firstSeenAt: new Date(group.first),
            lastSeenAt: new Date(group.last),
            tasks: (JSON.parse(group.tasks) as string[]).sort(),
            queues: (JSON.parse(group.queues) as string[]).sort(),
            sample: {
              jobId: sample.id,
              name: sample.name ?? 'Error',
              message: sample.message ?? '',
              ...(sample.stack === null ? {} : { stack: sample.stack }),
            },
          }
        })
      })(),
    )
  }

  // ─── Worker registry ──────────────────────────────────────────────────────────────────────────

  workerBeat(params: WorkerBeatParams): Promise<void> {
    return this.write(() => {
      this.sql(`INSERT INTO offload_workers (id, host, pid, queues, concurrency, started_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
          concurrency = excluded.concurrency, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at`).run(
        params.id,
        params.host,
        params.pid,
        JSON.stringify(params.queues),
        params.concurrency,
        params.startedAt,
        params.now ?? this.clock(),
      )
    }, REGISTRY)
  }

  workerRemove(params: { id: string }): Promise<void> {
    return this.write(() => {
      this.sql('DELETE FROM offload_workers WHERE id = ?').run(params.id)
    }, REGISTRY)
  }

  workerList(params: WorkerListParams): Promise<WorkerInfo[]> {
    return this.read(() =>
      this.db.transaction(() => {
        const at = params.now ?? this.clock()
        const workers = this.sql('SELECT * FROM offload_workers WHERE last_seen_at >= ? ORDER BY started_at, id').all(at - params.aliveMs) as StoredWorker[]
        if (workers.length === 0) return []
        // INDEXED BY: nothing in the WHERE narrows the leases index's range, so only the planner's
        // estimates keep it off a scan of the whole table; this walks the running jobs alone, always.
        const jobs = this.sql(`SELECT worker_id, id, task, queue, attempt, started_at, progress FROM offload_jobs INDEXED BY offload_jobs_leases
          WHERE state = 'running' AND worker_id IN (SELECT value FROM json_each(?)) ORDER BY started_at, id`).all(
          JSON.stringify(workers.map((worker) => worker.id)),
        ) as StoredWorkerJob[]
        return workerInfos(
          workers.map((worker) => ({
            ...worker,
            queues: JSON.parse(worker.queues) as string[],
            started_at: new Date(worker.started_at),
            last_seen_at: new Date(worker.last_seen_at),
          })),
          jobs.map((job) => ({
            ...job,
            started_at: job.started_at === null ? null : new Date(job.started_at),
            progress: job.progress === null ? null : (JSON.parse(job.progress) as Json),
          })),
        )
      })(),
    )
  }

  jobDelete(params: { id: string }): Promise<void> {
    return this.write((_notes, moves) => {
      const row = this.sql(`SELECT seq, task, queue, key, state FROM offload_jobs WHERE id = ?`).get(params.id) as
        | { seq: number; task: string; queue: string; key: string | null; state: JobState }
        | undefined
      if (row === undefined || !isFinished(row.state)) throw this.notApplicable(params.id, 'delete', row?.state)
      this.sql('DELETE FROM offload_events WHERE job_seq = ?').run(row.seq)
      this.sql('DELETE FROM offload_jobs WHERE seq = ?').run(row.seq)
      moves.move(row.queue, row.state, undefined)
      if (row.key !== null) this.sql('DELETE FROM offload_keys WHERE task = ? AND key = ? AND job_seq = ?').run(row.task, row.key, row.seq)
    })
  }

  private notApplicable(id: string, action: 'cancel' | 'retry' | 'delete', known?: JobState): OffloadError {
    return notApplicableError(id, action, known ?? (this.sql('SELECT state FROM offload_jobs WHERE id = ?').pluck().get(id) as JobState | undefined))
  }

  // ─── Copy between stores ──────────────────────────────────────────────────────────────────────

  jobExport(params: JobExportParams): Promise<JobRecord[]> {
    return this.read(() =>
      // One read transaction, so a job and its timeline come from one snapshot even while another
      // process finishes the job between the two statements.
      this.db.transaction(() => {
        const rows = this.sql('SELECT * FROM offload_jobs WHERE id > ? ORDER BY id LIMIT +?').all(params.after ?? '', params.limit) as JobRow[]
        if (rows.length === 0) return []
        const events = this.sql(`SELECT job_seq, at, type, state, attempt, data FROM offload_events
          WHERE job_seq IN (SELECT value FROM json_each(?)) ORDER BY job_seq, seq`).all(JSON.stringify(rows.map((row) => row.seq))) as {
          job_seq: number
          at: number
          type: JobEventType
          state: JobState
          attempt: number
          data: string | null
        }[]
        const timelines = new Map<number, JobRecordEvent[]>()
        for (const row of events) {
          const event: JobRecordEvent = { at: new Date(row.at), type: row.type, state: row.state, attempt: row.attempt }
          if (row.data !== null) event.data = JSON.parse(row.data) as Record<string, Json>
          let timeline = timelines.get(row.job_seq)
          if (timeline === undefined) timelines.set(row.job_seq, (timeline = []))
          timeline.push(event)
        }
        return rows.map((row) => {
          const record: JobRecord = { job: toJobInfo(row), events: timelines.get(row.seq) ?? [] }
          if (row.key_ttl_ms !== null) record.keyTtlMs = row.key_ttl_ms
          return record
        })
      })(),
    )
  }

  jobImport(params: JobImportParams): Promise<JobImportResult> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      // ON CONFLICT: a job already here (an earlier run of the copy) is left exactly as it is.
      // An imported job is never due for a webhook delivery: the source owes its finishes so far.
      const insert = this.sql(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, attempt, max_attempts,
        timeout_ms, backoff, key, key_ttl_ms, payload, metadata, result, progress, errors, created_at, started_at, finished_at, webhook,
        error_fingerprint, group_key, group_rank)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
      const ranks = this.groupRanks()
      const keyTake = this.sql('INSERT OR REPLACE INTO offload_keys (task, key, job_seq, expires_at) VALUES (?, ?, ?, ?)')
      const result: JobImportResult = { imported: 0, skipped: 0, keyConflicts: [] }
      const events: [seq: number, at: number, type: JobEventType, state: JobState, attempt: number, data: string | null][] = []
      const readyQueues = new Set<string>()
      let earliestDue = Infinity
      for (const { job, keyTtlMs, events: timeline } of params.records) {
        // No worker of this store holds a job that was running in the source: it is handed back
        // as a shutdown would hand it back, so it runs again here without losing an attempt.
        const running = job.state === 'running'
        const state: JobState = running ? 'queued' : job.state
        const attempt = running ? job.attempt - 1 : job.attempt
        // A grouped job joins its group's turn here, after the group's jobs already in this store.
        if (job.group !== undefined && !isFinished(state)) ranks.assign(result.imported + result.skipped, job.queue, job.group)
        const inserted = insert.run(
          job.id,
          job.task,
          job.queue,
          state,
          job.priority,
          job.runAt.getTime(),
          attempt,
          job.maxAttempts,
          job.timeoutMs ?? null,
          job.backoff === undefined ? null : JSON.stringify(job.backoff),
          job.key ?? null,
          keyTtlMs ?? null,
          JSON.stringify(job.payload),
          Object.keys(job.metadata).length === 0 ? null : JSON.stringify(job.metadata),
          job.result === undefined ? null : JSON.stringify(job.result),
          job.progress === undefined ? null : JSON.stringify(job.progress),
          job.errors.length === 0 ? null : JSON.stringify(job.errors.map(storedError)),
          job.createdAt.getTime(),
          job.startedAt?.getTime() ?? null,
          job.finishedAt?.getTime() ?? null,
          job.webhook ?? null,
          state === 'failed' ? failureFingerprint(job.errors) : null,
          job.group ?? null,
          ranks.of(result.imported + result.skipped) ?? null,
        )
        if (inserted.changes === 0) {
          result.skipped++
          continue
        }
        result.imported++
        moves.move(job.queue, undefined, state)
        const seq = Number(inserted.lastInsertRowid)
        if (job.key !== undefined) {
          const expiresAt = keyHoldOf(state, job.finishedAt, keyTtlMs, at)
          if (expiresAt !== undefined) {
            if (this.keyHolder(job.task, job.key, at) !== undefined) result.keyConflicts.push(job.id)
            else keyTake.run(job.task, job.key, seq, expiresAt)
          }
        }
        for (const event of timeline) {
          events.push([seq, event.at.getTime(), event.type, event.state, event.attempt, event.data === undefined ? null : JSON.stringify(event.data)])
        }
        if (running) events.push([seq, at, 'released', 'queued', attempt, null])
        if (state === 'queued') readyQueues.add(job.queue)
        else if (state === 'scheduled' || state === 'retrying') earliestDue = Math.min(earliestDue, job.runAt.getTime())
      }
      // One statement for every imported event, in the order given: each job's timeline keeps its order.
      if (events.length > 0) {
        this.sql(`INSERT INTO offload_events (job_seq, at, type, state, attempt, data)
          SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 5
          FROM json_each(?) AS e ORDER BY e.key`).run(JSON.stringify(events))
      }
      this.groupRanksSave(ranks)
      for (const queue of readyQueues) notes.push({ kind: 'ready', queue })
      if (earliestDue !== Infinity) notes.push({ kind: 'due', runAt: earliestDue })
      return result
    })
  }

  // ─── Maintenance ──────────────────────────────────────────────────────────────────────────────

  jobPromote(params: JobPromoteParams): Promise<number> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      // Read, then update by seq: the counts need the state each job leaves, which RETURNING does not say.
      const rows = this.sql(`SELECT seq, queue, state, attempt FROM offload_jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= ?
        ORDER BY run_at LIMIT +?`).all(at, params.limit) as { seq: number; queue: string; state: JobState; attempt: number }[]
      if (rows.length === 0) return 0
      this.sql(`UPDATE offload_jobs SET state = 'queued' WHERE seq IN (SELECT value FROM json_each(?))`).run(JSON.stringify(rows.map((row) => row.seq)))
      const queues = new Set<string>()
      for (const row of rows) {
        this.event(row.seq, at, 'promoted', 'queued', row.attempt)
        queues.add(row.queue)
        moves.move(row.queue, row.state, 'queued')
      }
      for (const queue of queues) notes.push({ kind: 'ready', queue })
      return rows.length
    })
  }

  jobNextDue(): Promise<number | undefined> {
    return this.read(
      () =>
        (this.sql(`SELECT min(run_at) FROM offload_jobs WHERE state IN ('scheduled', 'retrying')`).pluck().get() as number | null) ??
        undefined,
    )
  }

  jobRescue(params: JobRescueParams): Promise<number> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const rows = this.sql(`UPDATE offload_jobs SET
          state = CASE WHEN attempt < max_attempts THEN 'queued' ELSE 'failed' END,
          finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE @at END,
          webhook_due = CASE WHEN attempt < max_attempts THEN webhook_due ELSE webhook IS NOT NULL END,
          errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object('attempt', attempt, 'at', @at,
            'name', 'LeaseExpired', 'message', 'worker ' || coalesce(worker_id, '?') || ' stopped renewing its lease (it died or stalled)')),
          worker_id = NULL, lease_expires_at = NULL
        WHERE seq IN (SELECT seq FROM offload_jobs WHERE state = 'running' AND lease_expires_at <= @at
          ORDER BY lease_expires_at LIMIT +@limit)
        RETURNING ${FINISHED_COLUMNS}, state, json_extract(errors, '$[#-1].message') AS message`).all({ at, limit: params.limit }) as (FinishedRow & {
        state: JobState
        message: string
      })[]
      const failed: string[] = []
      const queues = new Set<string>()
      const fingerprint = this.sql('UPDATE offload_jobs SET error_fingerprint = ? WHERE seq = ?')
      for (const row of rows) {
        this.event(row.seq, at, 'rescued', row.state, row.attempt, { error: { name: 'LeaseExpired', message: row.message } })
        moves.move(row.queue, 'running', row.state)
        if (row.state === 'failed') {
          fingerprint.run(errorFingerprint({ name: 'LeaseExpired', message: row.message }), row.seq)
          this.releaseKey(row, at)
          failed.push(row.id)
        } else queues.add(row.queue)
      }
      for (const queue of queues) notes.push({ kind: 'ready', queue })
      if (failed.length > 0) notes.push({ kind: 'finished', ids: failed })
      return rows.length
    })
  }

  jobPrune(params: JobPruneParams): Promise<number> {
    return this.write((_notes, moves) => {
      const at = params.now ?? this.clock()
      const victims: { seq: number; task: string; queue: string; key: string | null }[] = []
      for (const state of ['completed', 'failed', 'cancelled'] as const) {
        const room = params.limit - victims.length
        if (room <= 0) break
        const rows = this.sql(`SELECT seq, task, queue, key FROM offload_jobs WHERE state = ? AND finished_at <= ?
          ORDER BY id LIMIT +?`).all(state, at - params.olderThanMs[state], room) as typeof victims
        for (const row of rows) moves.move(row.queue, state, undefined)
        victims.push(...rows)
      }
      if (victims.length > 0) {
        const seqs = JSON.stringify(victims.map((victim) => victim.seq))
        this.sql('DELETE FROM offload_events WHERE job_seq IN (SELECT value FROM json_each(?))').run(seqs)
        this.sql('DELETE FROM offload_jobs WHERE seq IN (SELECT value FROM json_each(?))').run(seqs)
        const dropKey = this.sql('DELETE FROM offload_keys WHERE task = ? AND key = ? AND job_seq = ?')
        for (const victim of victims) if (victim.key !== null) dropKey.run(victim.task, victim.key, victim.seq)
      }
      this.sql('DELETE FROM offload_keys WHERE expires_at IS NOT NULL AND expires_at <= ?').run(at)
      this.sql('DELETE FROM offload_workers WHERE last_seen_at <= ?').run(at - WORKER_FORGET_MS)
      this.flowKeysPrune(at)
      // Queues whose jobs are all gone (counts left at 0 by earlier writes) leave the counts too.
      this.sql('DELETE FROM offload_queue_counts WHERE n = 0').run()
      return victims.length
    })
  }

  leaderElect(params: LeaderElectParams): Promise<boolean> {
    return this.write(() => {
      const at = params.now ?? this.clock()
      const row = this.sql(`INSERT INTO offload_leaders (name, owner, expires_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE offload_leaders.owner = excluded.owner OR offload_leaders.expires_at <= ?
        RETURNING owner`).get(params.name, params.owner, at + params.ttlMs, at)
      return row !== undefined
    })
  }

  leaderResign(params: { name: string; owner: string }): Promise<void> {
    return this.write(() => {
      this.sql('DELETE FROM offload_leaders WHERE name = ? AND owner = ?').run(params.name, params.owner)
    })
  }

  // ─── Queues ───────────────────────────────────────────────────────────────────────────────────

  queueList(): Promise<QueueInfo[]> {
    return this.read(() =>
      // One read transaction: the counts, head ages and paused flags from one snapshot.
      this.db.transaction(() => {
        const rows = this.sql(QUEUE_READ_SQL.counts).all() as JobCount[]
        const oldest = this.sql(QUEUE_READ_SQL.oldest).all() as { queue: string; oldest: number }[]
        const flags = this.sql(QUEUE_READ_SQL.paused).all() as { name: string; paused: number }[]
        const queues = new Map<string, QueueInfo>()
        const queueOf = (name: string): QueueInfo => {
          let queue = queues.get(name)
          if (queue === undefined) queues.set(name, (queue = { queue: name, paused: false, counts: emptyCounts() }))
          return queue
        }
        for (const row of rows) queueOf(row.queue).counts[row.state] = row.count
        for (const row of oldest) queueOf(row.queue).oldestQueuedAt = new Date(row.oldest)
        for (const flag of flags) queueOf(flag.name).paused = flag.paused === 1
        return [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0))
      })(),
    )
  }

  /** Nothing to fold: the one writer at a time updates the counts in place (see CountMoves). */
  async queueCountsCompact(_params: QueueCountsCompactParams): Promise<number> {
    this.assertOpen()
    return 0
  }

  queuePause(params: QueuePauseParams): Promise<void> {
    return this.write(() => {
      // A queue paused again keeps the time it was first paused.
      this.sql(`INSERT INTO offload_queues (name, paused, paused_at) VALUES (?, 1, ?)
        ON CONFLICT (name) DO UPDATE SET paused = 1, paused_at = excluded.paused_at WHERE offload_queues.paused = 0`).run(
        params.queue,
        params.now ?? this.clock(),
      )
    })
  }

  queueResume(params: QueuePauseParams): Promise<void> {
    return this.write((notes) => {
      // The row stays, unpaused: queueList goes on listing a queue that was ever paused.
      this.sql('UPDATE offload_queues SET paused = 0, paused_at = NULL WHERE name = ? AND paused = 1').run(params.queue)
      notes.push({ kind: 'ready', queue: params.queue })
    })
  }

  // ─── Webhooks ─────────────────────────────────────────────────────────────────────────────────

  async jobWebhookDispatch(params: JobWebhookDispatchParams): Promise<number> {
    // Look before taking the write lock, as a claim does: the dispatcher runs on every finish,
    // and most finishes owe no webhook.
    const owed = await this.read(() =>
      this.sql(`SELECT 1 FROM offload_jobs WHERE webhook_due = 1 AND state IN ('completed', 'failed', 'cancelled') LIMIT 1`).get(),
    )
    if (owed === undefined) return 0
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      // Only finished jobs: one retried before its finish was dispatched is announced once, at
      // its next finish (its row no longer says how the earlier one ended).
      const rows = this.sql(`UPDATE offload_jobs SET webhook_due = 0
        WHERE seq IN (SELECT seq FROM offload_jobs WHERE webhook_due = 1 AND state IN ('completed', 'failed', 'cancelled')
          ORDER BY finished_at, seq LIMIT +?)
        RETURNING seq, id, webhook, state, attempt, finished_at`).all(params.limit) as {
        seq: number
        id: string
        webhook: string
        state: JobState
        attempt: number
        finished_at: number
      }[]
      if (rows.length === 0) return 0
      rows.sort((a, b) => a.finished_at - b.finished_at || a.seq - b.seq)
      const { delivery } = params
      const jobs = rows.map((row): JobInsert => {
        const payload: WebhookDeliveryPayload = {
          jobId: row.id,
          url: row.webhook,
          state: row.state,
          attempt: row.attempt,
          finishedAt: new Date(row.finished_at).toISOString(),
        }
        return {
          id: uuidv7(at),
          task: delivery.task,
          queue: delivery.queue,
          payload: JSON.stringify(payload),
          priority: 0,
          maxAttempts: delivery.maxAttempts,
          timeoutMs: delivery.timeoutMs,
          backoff: delivery.backoff,
        }
      })
      const before = this.lastJobSeq()
      this.insertJobRows(
        jobs,
        jobs.map((_, i) => i),
        jobs.map(() => at),
        at,
      )
      this.enqueuedEvents(before, jobs.length, at)
      moves.move(delivery.queue, undefined, 'queued', jobs.length)
      notes.push({ kind: 'ready', queue: delivery.queue })
      return jobs.length
    })
  }

  eventAppend(params: EventAppendParams): Promise<boolean> {
    return this.write((notes) => {
      const appended = this.sql(`INSERT INTO offload_events (job_seq, at, type, state, attempt, data)
        SELECT seq, ?, ?, state, attempt, ? FROM offload_jobs WHERE id = ?`).run(
        params.now ?? this.clock(),
        params.type,
        JSON.stringify(params.data),
        params.jobId,
      )
      if (appended.changes === 0) return false
      // Followers of the log re-read on any note; this one asks nothing more of anyone.
      notes.push({ kind: 'progress', ids: [params.jobId] })
      return true
    })
  }

  // ─── Debounce and throttle ────────────────────────────────────────────────────────────────────

  jobDebounce(params: JobDebounceParams): Promise<JobInsertResult> {
    // One write transaction: no other writer, in this process or another, runs between the look
    // and the write, so racing producers of one key take turns.
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const { job, key } = params
      const waiting = this.sql(`SELECT j.seq, j.id, j.run_at, j.created_at FROM offload_debounces d JOIN offload_jobs j ON j.id = d.job_id
        WHERE d.task = ? AND d.key = ? AND j.state = 'scheduled' AND j.started_at IS NULL AND j.run_at > ?`).get(job.task, key, at) as
        | { seq: number; id: string; run_at: number; created_at: number }
        | undefined
      if (waiting === undefined) {
        const runAt = at + params.delayMs
        const created = this.flowInsert(job, runAt, at, notes, moves)
        this.sql('INSERT OR REPLACE INTO offload_debounces (task, key, job_id, run_at) VALUES (?, ?, ?, ?)').run(job.task, key, job.id, runAt)
        return { id: job.id, state: created, existing: false }
      }
      const runAt = debouncedRunAt(params, at, waiting.run_at, waiting.created_at)
      const columns = sharedColumns(job, runAt, at)
      this.sql(`UPDATE offload_jobs SET payload = @payload, metadata = @metadata, priority = @priority, max_attempts = @max_attempts,
        timeout_ms = @timeout_ms, backoff = @backoff, webhook = @webhook, run_at = @run_at WHERE seq = @seq`).run({
        payload: job.payload,
        metadata: columns.metadata,
        priority: columns.priority,
        max_attempts: columns.max_attempts,
        timeout_ms: columns.timeout_ms,
        backoff: columns.backoff,
        webhook: columns.webhook,
        run_at: runAt,
        seq: waiting.seq,
      })
      this.sql('UPDATE offload_debounces SET run_at = ? WHERE task = ? AND key = ?').run(runAt, job.task, key)
      return { id: waiting.id, state: 'scheduled', existing: true }
    })
  }

  jobThrottle(params: JobThrottleParams): Promise<JobInsertResult> {
    return this.write((notes, moves) => {
      const at = params.now ?? this.clock()
      const { job, key } = params
      // A window whose job was deleted holds nothing: the join finds no job, and a new one starts.
      const holder = this.sql(`SELECT j.id, j.state FROM offload_throttles t JOIN offload_jobs j ON j.id = t.job_id
        WHERE t.task = ? AND t.key = ? AND t.until > ?`).get(job.task, key, at) as { id: string; state: JobState } | undefined
      if (holder !== undefined) return { ...holder, existing: true }
      const caps = params.maxQueued !== undefined && params.maxQueued.size > 0 ? params.maxQueued : undefined
      const state = this.flowInsert(job, job.runAt ?? at + (job.delayMs ?? 0), at, notes, moves, caps)
      this.sql('INSERT OR REPLACE INTO offload_throttles (task, key, job_id, until) VALUES (?, ?, ?, ?)').run(job.task, key, job.id, at + params.windowMs)
      return { id: job.id, state, existing: false }
    })
  }

  /** Creates one job as `jobInsertMany` would (its row, `enqueued` event, count and note); returns its state. */
  private flowInsert(job: JobInsert, runAt: number, at: number, notes: StoreNote[], moves: CountMoves, caps?: ReadonlyMap<string, number>): JobState {
    const state = stateAt(runAt, at)
    if (caps !== undefined && state === 'queued') this.queueRoomTake(caps, new Map(), job.queue)
    const before = this.lastJobSeq()
    const ranks = this.groupRanks()
    if (job.group !== undefined) ranks.assign(0, job.queue, job.group)
    this.insertJobRows([job], [0], [runAt], at, ranks)
    this.groupRanksSave(ranks)
    this.enqueuedEvents(before, 1, at)
    moves.move(job.queue, undefined, state)
    notes.push(state === 'queued' ? { kind: 'ready', queue: job.queue } : { kind: 'due', runAt })
    return state
  }

  /** Forgets debounce keys whose job is due (it no longer takes updates) and throttle windows that ended. */
  private flowKeysPrune(at: number): void {
    this.sql('DELETE FROM offload_debounces WHERE run_at <= ?').run(at)
    this.sql('DELETE FROM offload_throttles WHERE until <= ?').run(at)
  }

  // ─── Schedules ────────────────────────────────────────────────────────────────────────────────

  scheduleUpsert(params: ScheduleUpsertParams): Promise<ScheduleInfo> {
    return this.write(() => {
      const at = params.now ?? this.clock()
      // SET expressions read the row as it was: `paused` there is the stored flag. updated_at moves
      // only when the definition does, so every process declaring the same schedule at start
      // leaves it as it was.
      const row = this.sql(`INSERT INTO offload_schedules (name, task, queue, cron, timezone, payload, job, catch_up, paused, source,
          next_run_at, created_at, updated_at)
        VALUES (@name, @task, @queue, @cron, @timezone, @payload, @job, @catchUp, coalesce(@paused, 0), @source, @next, @at, @at)
        ON CONFLICT (name) DO UPDATE SET task = excluded.task, queue = excluded.queue, cron = excluded.cron, timezone = excluded.timezone,
          payload = excluded.payload, job = excluded.job, catch_up = excluded.catch_up, source = excluded.source,
          paused = coalesce(@paused, paused),
          next_run_at = CASE WHEN cron IS NOT excluded.cron OR timezone IS NOT excluded.timezone OR (paused = 1 AND coalesce(@paused, 1) = 0)
            THEN excluded.next_run_at ELSE next_run_at END,
          updated_at = CASE WHEN (task, queue, cron, timezone, payload, job, catch_up, source, paused)
            IS NOT (excluded.task, excluded.queue, excluded.cron, excluded.timezone, excluded.payload, excluded.job, excluded.catch_up,
              excluded.source, coalesce(@paused, paused))
            THEN excluded.updated_at ELSE updated_at END
        RETURNING *`).get({
        name: params.name,
        task: params.task,
        queue: params.queue,
        cron: params.cron,
        timezone: params.timezone,
        payload: params.payload,
        job: JSON.stringify(params.job),
        catchUp: params.catchUp,
        paused: params.paused === undefined ? null : params.paused ? 1 : 0,
        source: params.source,
        next: params.nextRunAt,
        at,
      }) as ScheduleRow
      return toScheduleInfo(row)
    })
  }

  scheduleGet(params: { name: string }): Promise<ScheduleInfo | undefined> {
    return this.read(() => {
      const row = this.sql('SELECT * FROM offload_schedules WHERE name = ?').get(params.name) as ScheduleRow | undefined
      return row === undefined ? undefined : toScheduleInfo(row)
    })
  }

  scheduleList(): Promise<ScheduleInfo[]> {
    return this.read(() => (this.sql('SELECT * FROM offload_schedules ORDER BY name').all() as ScheduleRow[]).map(toScheduleInfo))
  }

  scheduleDelete(params: { name: string }): Promise<boolean> {
    return this.write(() => this.sql('DELETE FROM offload_schedules WHERE name = ?').run(params.name).changes === 1)
  }

  scheduleTick(params: ScheduleTickParams): Promise<boolean> {
    return this.write((notes, moves) => {
      // The write lock makes this check-and-move atomic across processes: a scheduler that read the
      // same due tick finds it moved once the winner commits, and writes nothing.
      const moved = this.sql(`UPDATE offload_schedules SET next_run_at = ?, last_run_at = coalesce(?, last_run_at)
        WHERE name = ? AND next_run_at = ? AND paused = 0`).run(
        params.next,
        params.ticks.length === 0 ? null : Math.max(...params.ticks),
        params.name,
        params.due,
      ).changes
      if (moved === 0) return false
      this.jobInsertIn({ jobs: params.jobs, ...(params.now === undefined ? {} : { now: params.now }) }, notes, moves)
      return true
    })
  }

  // ─── Circuit breakers ─────────────────────────────────────────────────────────────────────────

  breakerRecord(params: BreakerRecordParams): Promise<BreakerTransition[]> {
    return this.write(() => {
      const at = params.now ?? this.clock()
      const rows = new Map<string, breakers.BreakerRow>()
      for (const { task, group } of breakers.lockKeys(params.outcomes, params.settings)) {
        const row = this.breakerRow(task, group)
        if (row !== undefined) rows.set(breakers.keyOf(task, group), row)
      }
      const { transitions, changed } = breakers.recordRows(rows, params.outcomes, params.settings, at)
      for (const row of changed) this.breakerSave(row)
      return transitions
    }, BREAKER_WRITE)
  }

  breakerProbe(params: BreakerProbeParams): Promise<BreakerAdmission> {
    return this.write(() => {
      const row = this.breakerRow(params.task, params.group ?? '')
      const { admission } = breakers.admit(row, params.now ?? this.clock())
      if (row !== undefined && admission !== 'closed') this.breakerSave(row)
      return admission
    }, BREAKER_WRITE)
  }

  breakerList(params: BreakerListParams): Promise<BreakerInfo[]> {
    return this.read(() => {
      const at = params.now ?? this.clock()
      const rows = (this.sql('SELECT * FROM offload_breakers').all() as breakers.StoredBreaker[]).map(breakers.fromStored)
      return rows.sort(breakers.order).map((row) => breakers.info(row, at))
    })
  }

  breakerReset(params: BreakerResetParams): Promise<number> {
    return this.write(() => {
      const at = params.now ?? this.clock()
      const stored = (
        params.group === undefined
          ? this.sql('SELECT * FROM offload_breakers WHERE task = ?').all(params.task)
          : this.sql('SELECT * FROM offload_breakers WHERE task = ? AND grp = ?').all(params.task, params.group)
      ) as breakers.StoredBreaker[]
      for (const row of stored.map(breakers.fromStored)) {
        breakers.resetRow(row, at)
        this.breakerSave(row)
      }
      return stored.length
    })
  }

  private breakerRow(task: string, group: string): breakers.BreakerRow | undefined {
    const stored = this.sql('SELECT * FROM offload_breakers WHERE task = ? AND grp = ?').get(task, group) as breakers.StoredBreaker | undefined
    return stored === undefined ? undefined : breakers.fromStored(stored)
  }

  private breakerSave(row: breakers.BreakerRow): void {
    this.sql(`INSERT OR REPLACE INTO offload_breakers (${breakers.COLUMNS.join(', ')}) VALUES (${breakers.COLUMNS.map(() => '?').join(', ')})`).run(
      ...breakers.values(row, (ms) => ms),
    )
  }

  // ─── Internals ────────────────────────────────────────────────────────────────────────────────

  /** Adds a batch's moves to `offload_queue_counts`: one upsert per queue and state whose count changed. */
  private countMoves(moves: CountMoves): void {
    let upsert: Statement | undefined
    for (const [queue, state, change] of moves.entries()) {
      upsert ??= this.sql(`INSERT INTO offload_queue_counts (queue, state, n) VALUES (?, ?, ?)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`)
      upsert.run(queue, state, change)
    }
  }

  /** The largest job seq: inside a write transaction, the jobs it inserts next are numbered above it. */
  private lastJobSeq(): number {
    return this.sql('SELECT coalesce(max(seq), 0) FROM offload_jobs').pluck().get() as number
  }

  private event(jobSeq: number, at: number, type: JobEventType, state: JobState, attempt: number, data?: Record<string, Json>): void {
    this.sql('INSERT INTO offload_events (job_seq, at, type, state, attempt, data) VALUES (?, ?, ?, ?, ?, ?)').run(
      jobSeq,
      at,
      type,
      state,
      attempt,
      data === undefined ? null : JSON.stringify(data),
    )
  }

  /** The same event for many jobs, in one statement. */
  private events(jobs: readonly (readonly [seq: number, attempt: number])[], at: number, type: JobEventType, state: JobState, data: string | null): void {
    if (jobs.length === 0) return
    this.sql(`INSERT INTO offload_events (job_seq, at, type, state, attempt, data)
      SELECT e.value ->> 0, ?, ?, ?, e.value ->> 1, ? FROM json_each(?) AS e`).run(at, type, state, data, JSON.stringify(jobs))
  }

  /** The job holding `key` of `task` at `at`: unfinished, or finished and still inside its `keyTtlMs`. */
  private keyHolder(task: string, key: string, at: number): { id: string; state: JobState } | undefined {
    const held = this.sql(`SELECT k.expires_at, j.id, j.state FROM offload_keys k
      LEFT JOIN offload_jobs j ON j.seq = k.job_seq WHERE k.task = ? AND k.key = ?`).get(task, key) as
      | { expires_at: number | null; id: string | null; state: JobState | null }
      | undefined
    if (held?.id == null || (held.expires_at !== null && held.expires_at <= at)) return undefined
    return { id: held.id, state: held.state! }
  }

  /** A finished job frees its key at once, or holds it `key_ttl_ms` longer. */
  private releaseKey(row: { seq: number; task: string; key: string | null; key_ttl_ms: number | null }, at: number): void {
    if (row.key === null) return
    if (row.key_ttl_ms !== null && row.key_ttl_ms > 0) {
      this.sql('UPDATE offload_keys SET expires_at = ? WHERE task = ? AND key = ? AND job_seq = ?').run(
        at + row.key_ttl_ms,
        row.task,
        row.key,
        row.seq,
      )
    } else {
      this.sql('DELETE FROM offload_keys WHERE task = ? AND key = ? AND job_seq = ?').run(row.task, row.key, row.seq)
    }
  }

  /** Prepared statements, cached by their text: each is compiled once per connection. */
  private sql(text: string): Statement {
    let statement = this.statements.get(text)
    if (statement === undefined) {
      statement = this.db.prepare(text)
      this.statements.set(text, statement)
    }
    return statement
  }

  /**
   * Runs `op` in the process's shared write transaction (`durable: false` only for claims: see
   * GroupCommit). The jobs `op` creates, moves and deletes must be recorded in `moves`: if `op`
   * succeeds they join the batch's, which the batch writes to the counts before it commits; an op
   * that fails, rolled back to its savepoint, counts nothing.
   */
  private write<T>(op: (notes: StoreNote[], moves: CountMoves) => T, options?: { durable: boolean }): Promise<T> {
    if (this.closed) return Promise.reject(new OffloadError('CLOSED', 'the store is closed'))
    const counted = (notes: StoreNote[]): T => {
      const moves = new CountMoves()
      const value = op(notes, moves)
      this.batchMoves.merge(moves)
      return value
    }
    return this.writes.submit(counted, options).catch((error: unknown) => {
      throw sqliteError(error, this.description)
    })
  }

  private read<T>(fn: () => T): Promise<T> {
    // Reject rather than throw: every Store method reports failure through its promise.
    if (this.closed) return Promise.reject(new OffloadError('CLOSED', 'the store is closed'))
    return this.retryBusy(fn)
  }

  /** Runs `fn`, retrying on a timer while another process holds a lock, up to the busy timeout. */
  private async retryBusy<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs
    for (let delay = 2; ; delay = Math.min(100, delay * 2)) {
      try {
        return fn()
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw sqliteError(error, this.description)
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
      this.assertOpen()
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new OffloadError('CLOSED', 'the store is closed')
  }

  private emit(notes: StoreNote[]): void {
    for (const listener of this.listeners) {
      for (const note of notes) listener(note)
    }
  }
}

/** The optional queue and task filters of the failure-triage reads, as SQL to append and its arguments. */
function failureFilters(params: { queue?: string; task?: string }): { sql: string; args: string[] } {
  const sql: string[] = []
  const args: string[] = []
  if (params.queue !== undefined) {
    sql.push(' AND queue = ?')
    args.push(params.queue)
  }
  if (params.task !== undefined) {
    sql.push(' AND task = ?')
    args.push(params.task)
  }
  return { sql: sql.join(''), args }
}

/** Whether two new jobs differ in nothing `jobInsertMany` writes but id, payload and run time. */
function sameColumns(a: JobInsert, b: JobInsert): boolean {
  return (
    a.task === b.task &&
    a.queue === b.queue &&
    a.priority === b.priority &&
    a.maxAttempts === b.maxAttempts &&
    a.timeoutMs === b.timeoutMs &&
    a.backoff === b.backoff &&
    a.key === b.key &&
    a.keyTtlMs === b.keyTtlMs &&
    a.metadata === b.metadata &&
    a.webhook === b.webhook &&
    // A grouped job has a rank of its own.
    a.group === undefined &&
    b.group === undefined
  )
}

/** A new row's values in `JOB_INSERT_COLUMNS` order. */
function jobColumns(job: JobInsert, runAt: number, at: number, rank: number | undefined): unknown[] {
  return [
    job.id,
    job.task,
    job.queue,
    stateAt(runAt, at),
    job.priority,
    runAt,
    job.maxAttempts,
    job.timeoutMs ?? null,
    job.backoff === undefined ? null : JSON.stringify(job.backoff),
    job.key ?? null,
    job.keyTtlMs ?? null,
    job.payload,
    job.metadata ?? null,
    at,
    job.webhook ?? null,
    job.group ?? null,
    rank ?? null,
  ]
}

/** The named parameters of a uniform insert: every column but id and payload, from one job. */
function sharedColumns(job: JobInsert, runAt: number, at: number): Record<string, unknown> {
  return {
    task: job.task,
    queue: job.queue,
    state: stateAt(runAt, at),
    priority: job.priority,
    run_at: runAt,
    max_attempts: job.maxAttempts,
    timeout_ms: job.timeoutMs ?? null,
    backoff: job.backoff === undefined ? null : JSON.stringify(job.backoff),
    key: job.key ?? null,
    key_ttl_ms: job.keyTtlMs ?? null,
    metadata: job.metadata ?? null,
    created_at: at,
    webhook: job.webhook ?? null,
    group_key: null,
    group_rank: null,
  }
}

function emptyCounts(): Record<JobState, number> {
  return { scheduled: 0, queued: 0, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0 }
}

/** A new job due by `at` is ready; one due later waits, scheduled. */
function stateAt(runAt: number, at: number): JobState {
  return runAt > at ? 'scheduled' : 'queued'
}

/** A claimed job as the claim statement returns it, in its RETURNING order. */
/**
 * Ranks for one insert's grouped jobs: a group's next job gets the group's next rank, or the
 * queue's head (the highest rank claimed so far) if that is higher — so a group that has waited
 * joins the round-robin at its current turn instead of ahead of everyone, and a new group starts
 * there instead of behind a big group's backlog. Looked up once per group and queue per insert.
 */
class GroupRanks {
  private readonly next = new Map<string, { queue: string; group: string; rank: number }>()
  private readonly heads = new Map<string, number>()
  private readonly byRow = new Map<number, number>()

  constructor(
    private readonly groupRank: Statement,
    private readonly queueHead: Statement,
  ) {}

  assign(row: number, queue: string, group: string): void {
    const id = `${queue}\u0000${group}`
    let entry = this.next.get(id)
    if (entry === undefined) {
      let head = this.heads.get(queue)
      if (head === undefined) this.heads.set(queue, (head = (this.queueHead.get(queue) as number | undefined) ?? 0))
      const stored = this.groupRank.get(queue, group) as number | undefined
      this.next.set(id, (entry = { queue, group, rank: Math.max(stored ?? 0, head) }))
    }
    this.byRow.set(row, entry.rank++)
  }

  of(row: number): number | undefined {
    return this.byRow.get(row)
  }

  save(upsert: Statement): void {
    for (const { queue, group, rank } of this.next.values()) upsert.run(queue, group, rank)
  }
}

type ClaimRow = [
  seq: number,
  id: string,
  task: string,
  queue: string,
  payload: string,
  metadata: string | null,
  priority: number,
  runAt: number,
  attempt: number,
  maxAttempts: number,
  lease: number,
  timeoutMs: number | null,
  backoff: string | null,
  key: string | null,
  createdAt: number,
  group: string | null,
  groupRank: number | null,
]

/** A completed job as `completeMany` returns it: its event's columns first, then its key's, then its queue. */
type CompletedRow = [seq: number, attempt: number, id: string, task: string, key: string | null, keyTtlMs: number | null, queue: string]

/** The state each outcome but `completed` leaves a job in. */
const FINISH_STATES = { retry: 'retrying', failed: 'failed', snoozed: 'scheduled', released: 'queued' } as const satisfies Record<
  Exclude<JobFinish['outcome'], 'completed'>,
  JobState
>

/** A ready job as a limited claim considers it. */
type Candidate = [seq: number, priority: number, groupRank: number | null, runAt: number, group: string | null, task: string]

/** Highest priority first, then jobs without a group, then group rank, earliest run time, oldest: the order of the ready index. */
function claimOrder(a: ClaimRow, b: ClaimRow): number {
  return b[6] - a[6] || rankOrder(a[16], b[16]) || a[7] - b[7] || a[0] - b[0]
}

/** Group ranks in index order: none (an ungrouped job) before any. */
function rankOrder(a: number | null, b: number | null): number {
  return a === b ? 0 : a === null ? -1 : b === null ? 1 : a - b
}

/** Whether a job of `task` in `group` is one of `exclude`. */
function exclusionTest(exclude: readonly ClaimExclusion[] | undefined): (task: string, group: string | null) => boolean {
  if (exclude === undefined || exclude.length === 0) return () => false
  const tasks = new Set<string>()
  const groups = new Set<string>()
  for (const { task, group } of exclude) {
    if (group === undefined) tasks.add(task)
    else groups.add(`${task}\u0000${group}`)
  }
  return (task, group) => tasks.has(task) || (group !== null && groups.has(`${task}\u0000${group}`))
}

function errorData(error: { name: string; message: string }): Record<string, Json> {
  return { name: error.name, message: error.message }
}

/**
 * How an imported job holds its key, as the source held it: `null` while the job is unfinished
 * (held until it finishes), the expiry for a finished job still inside its `keyTtlMs`, and
 * `undefined` when the hold has lapsed: such a job holds nothing, so it cannot conflict either.
 */
function keyHoldOf(state: JobState, finishedAt: Date | undefined, keyTtlMs: number | undefined, now: number): number | null | undefined {
  if (!isFinished(state)) return null
  if (finishedAt === undefined || keyTtlMs === undefined || keyTtlMs <= 0) return undefined
  const expiresAt = finishedAt.getTime() + keyTtlMs
  return expiresAt > now ? expiresAt : undefined
}

/** An attempt's error as the `errors` column holds it (what `toJobInfo` reads back). */
interface StoredError {
  attempt: number
  at: number
  name: string
  message: string
  stack: string | null
}

function storedError(error: AttemptError): StoredError {
  return { attempt: error.attempt, at: error.at.getTime(), name: error.name, message: error.message, stack: error.stack ?? null }
}

function toJobInfo(row: JobRow): JobInfo {
  const job: JobInfo = {
    id: row.id,
    task: row.task,
    queue: row.queue,
    state: row.state,
    payload: JSON.parse(row.payload),
    metadata: row.metadata === null ? {} : (JSON.parse(row.metadata) as Record<string, Json>),
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAt: new Date(row.run_at),
    createdAt: new Date(row.created_at),
    errors:
      row.errors === null
        ? []
        : (JSON.parse(row.errors) as (Omit<AttemptError, 'at' | 'stack'> & { at: number; stack: string | null })[]).map((error) => ({
            attempt: error.attempt,
            at: new Date(error.at),
            name: error.name,
            message: error.message,
            ...(error.stack === null ? {} : { stack: error.stack }),
          })),
  }
  if (row.result !== null) job.result = JSON.parse(row.result)
  if (row.progress !== null) job.progress = JSON.parse(row.progress) as Json
  if (row.started_at !== null) job.startedAt = new Date(row.started_at)
  if (row.finished_at !== null) job.finishedAt = new Date(row.finished_at)
  if (row.key !== null) job.key = row.key
  if (row.group_key !== null) job.group = row.group_key
  if (row.timeout_ms !== null) job.timeoutMs = row.timeout_ms
  if (row.backoff !== null) job.backoff = JSON.parse(row.backoff) as ResolvedBackoff
  if (row.worker_id !== null) job.workerId = row.worker_id
  if (row.lease_expires_at !== null) job.leaseExpiresAt = new Date(row.lease_expires_at)
  if (row.webhook !== null) job.webhook = row.webhook
  if (row.error_fingerprint !== null) job.errorFingerprint = row.error_fingerprint
  return job
}

interface EventRow {
  seq: number
  id: string
  task: string
  queue: string
  at: number
  type: JobEventType
  state: JobState
  attempt: number
  data: string | null
}

function toJobEvent(row: EventRow): JobEvent {
  const event: JobEvent = {
    seq: row.seq,
    jobId: row.id,
    task: row.task,
    queue: row.queue,
    at: new Date(row.at),
    type: row.type,
    state: row.state,
    attempt: row.attempt,
  }
  if (row.data !== null) event.data = JSON.parse(row.data) as Record<string, Json>
  return event
}

/**
 * A debounced job's new run time: `delayMs` from now, but no later than `maxWaitMs` after it was
 * created, and never earlier than it already was — still in the future, so the job stays scheduled.
 */
function debouncedRunAt(params: JobDebounceParams, at: number, runAt: number, createdAt: number): number {
  const pushed = at + params.delayMs
  return Math.max(runAt, params.maxWaitMs === undefined ? pushed : Math.min(pushed, createdAt + params.maxWaitMs))
}
