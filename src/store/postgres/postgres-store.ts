import pg from 'pg'
import type { ResolvedBackoff } from '../../backoff.js'
import { OffloadError, QueueFullError, isOffloadError } from '../../errors.js'
import { errorFingerprint, failureFingerprint } from '../../fingerprint.js'
import { uuidv7 } from '../../ids.js'
import { isFinished, JOB_STATES, type AttemptError, type JobEvent, type JobEventType, type JobInfo, type JobState, type Json } from '../../job.js'
import * as breakers from '../breaker-row.js'
import type { BreakerAdmission, BreakerInfo, BreakerListParams, BreakerProbeParams, BreakerRecordParams, BreakerResetParams, BreakerTransition } from '../store.js'
import type {
  ClaimedJob,
  ClaimExclusion,
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
  WorkerBeatParams,
  WorkerInfo,
  WorkerListParams,
} from '../store.js'
import { WORKER_FORGET_MS } from '../store.js'
import { workerInfos, type WorkerJobRow, type WorkerRow } from '../worker-infos.js'
import { notApplicableError } from '../not-applicable.js'
import { redact } from '../redact.js'
import { toScheduleInfo, type ScheduleRow } from '../schedule-infos.js'
import { PgListener } from './listener.js'
import { LATEST_VERSION, MIGRATIONS } from './migrations.js'

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`, as `pg` understands it. */
  url: string
  /** The schema holding Offload's tables, created if missing. @defaultValue `'offload'` */
  schema?: string
  /** Connections in the pool, besides the one that listens. @defaultValue 10 */
  poolSize?: number
  /** How long to wait for a connection before failing with `STORE_UNAVAILABLE`. @defaultValue 5000 */
  connectTimeoutMs?: number
  /** How long a query may take before failing with `STORE_UNAVAILABLE`. @defaultValue 30000 */
  queryTimeoutMs?: number
  /**
   * Within this window after a ready notification for a queue, further ones from this process wait
   * and go out as one at its end: under a flood of enqueues, NOTIFY (which serialises commits on
   * the server) stays cheap while an idle worker still wakes at once. @defaultValue 5
   */
  notifyDebounceMs?: number
  /** Receives problems the store cannot throw to a caller (a dropped LISTEN connection). */
  onError?: (error: unknown) => void
}

export const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** Advisory lock namespaces, the first of the two-int form: the second is the schema's hash. */
const LOCK_EVENTS = 0x0ff10ad
const LOCK_MIGRATE = 0x0ff10ae

/** `int8` as a JS number (seqs and milliseconds stay far below 2^53); the other types as `pg` parses them. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

const UNFINISHED_SQL = `('scheduled', 'queued', 'running', 'retrying')`
/**
 * `state = 'running'` as a parameter in the batch statements that find jobs by id. With the literal,
 * a prepared statement's generic plan trusts statistics saying no job is running (true right after
 * a VACUUM ANALYZE of a big history) and tests every running job against every id in the batch:
 * seconds per batch with thousands running. A parameter keeps the plan on the id index.
 */
const RUNNING = ['running']
const FINISHED_SQL = `('completed', 'failed', 'cancelled')`
/** The time of a write: the caller's `now` (tests) or the database's clock, never the worker's. */
const AT = 'coalesce($1::timestamptz, now())'
const ms = (param: string): string => `(${param}::float8 * interval '1 millisecond')`
/** When a new job is due: at its `runAt` (epoch ms), else `delayMs` after now. Due by now means `queued`. */
const dueSql = (runAt: string, delayMs: string): string =>
  `CASE WHEN ${runAt} IS NOT NULL THEN to_timestamp(${runAt} / 1000) ELSE ${AT} + ${ms(`coalesce(${delayMs}, 0)`)} END`
const ISO = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
const EPOCH_MS = (column: string): string => `round(extract(epoch FROM ${column}) * 1000)::bigint`
/** A time as the `Date` node-pg would have parsed from it: whole milliseconds, the microseconds dropped. */
const FLOOR_MS = (column: string): string => `floor(extract(epoch FROM ${column}) * 1000)::bigint`
/**
 * A manual retry's change to a failed or cancelled job: queued now, attempts from zero. The old
 * run's progress would describe work that starts over; its errors stay, for the record. A finish
 * whose webhook was not dispatched yet goes unannounced: the row no longer says how it ended, and
 * the next finish is announced instead.
 */
const RETRY_SET_SQL = `state = 'queued', attempt = 0, run_at = ${AT}, finished_at = NULL, result = NULL, progress = NULL,
  worker_id = NULL, lease_expires_at = NULL, webhook_due = false, error_fingerprint = NULL`
/** Failed jobs fingerprinted per statement by `migrate()`'s backfill. */
const BACKFILL_BATCH = 1000

interface JobRow {
  seq: number
  id: string
  task: string
  queue: string
  state: JobState
  priority: number
  run_at: Date
  attempt: number
  max_attempts: number
  lease: number
  worker_id: string | null
  lease_expires_at: Date | null
  timeout_ms: number | null
  backoff: ResolvedBackoff | null
  key: string | null
  key_ttl_ms: number | null
  payload: unknown
  metadata: Record<string, Json> | null
  result: unknown
  progress: Json | null
  errors: { attempt: number; at: number; name: string; message: string; stack?: string | null }[] | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  webhook: string | null
  webhook_due: boolean
  error_fingerprint: string | null
  group_key: string | null
  group_rank: string | null
}

type Queryable = Pick<pg.ClientBase, 'query'>

/**
 * The store for many workers on many machines: PostgreSQL through `pg`, in a schema of its own.
 *
 * Hot paths are one statement each — a claim, a batch of completions, an enqueue without keys —
 * so they cost one round trip and commit on their own; claims use `FOR UPDATE SKIP LOCKED` so
 * workers never wait on each other. Every time decision reads the database's `now()`.
 *
 * Other processes hear about writes through LISTEN/NOTIFY on one channel per schema; a note this
 * store sends carries its origin so it does not hear itself (it already told its own listeners).
 */
/** Calls of at most this many jobs share a batch with other callers'; bigger ones are batches already. */
const SHARED_CALL_MAX = 64
/** The most jobs one shared batch carries. */
const SHARED_BATCH_MAX = 1000

/**
 * An error whose statement the database refused, so nothing it did was kept: a cardinality
 * violation (one id twice in a batch), a data exception or an integrity violation (an id stored).
 */
function refusedByDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^2[123]/.test(code)
}

interface SharedInsert {
  jobs: JobInsert[]
  resolve: (results: JobInsertResult[]) => void
  reject: (error: unknown) => void
}

export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities = { listen: true, transactionalEnqueue: true }
  readonly description: string
  private readonly pool: pg.Pool
  private readonly schema: string
  private readonly lockKey: number
  private readonly channel: string
  private readonly origin = uuidv7().slice(-12)
  private readonly listener: PgListener
  /** Connections with the limited claim prepared (`claimLimitedQueue`). */
  private readonly claimPrepared = new WeakSet<pg.PoolClient>()
  private readonly listeners = new Set<(note: StoreNote) => void>()
  private readonly statementNames = new Map<string, string>()
  private readonly texts = new Map<string, string>()
  private readonly sender: NoteSender
  private readonly inFlight = new Set<Promise<unknown>>()
  /** Enqueues waiting for this turn's shared batch (see `insertShared`). */
  private sharedInserts: SharedInsert[] = []
  /** Joined into every statement that appends events: see `event_horizon` in migrations.ts. */
  private readonly eventGate: string
  private closed = false
  private closing: Promise<void> | undefined

  constructor(options: PostgresStoreOptions) {
    const schemaName = options.schema ?? 'offload'
    if (!SCHEMA_PATTERN.test(schemaName)) {
      throw new OffloadError('INVALID_STORE', `the schema name '${schemaName}' is not allowed: use letters, digits and _ (at most 63)`, {
        schema: schemaName,
      })
    }
    this.description = `${redact(options.url).replace(/\?.*$/, '')}${schemaName === 'offload' ? '' : ` (schema ${schemaName})`}`
    this.schema = pg.escapeIdentifier(schemaName)
    this.lockKey = hash32(schemaName)
    this.channel = `offload.${schemaName}`
    this.eventGate = `, (SELECT pg_advisory_xact_lock_shared(${LOCK_EVENTS}, ${this.lockKey})) AS gate`
    const config: pg.PoolConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      query_timeout: options.queryTimeoutMs ?? 30_000,
      application_name: 'offload',
      types: TYPES,
    }
    this.pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, allowExitOnIdle: true })
    // An idle pooled connection that dies (server restart, pg_terminate_backend) is dropped by the
    // pool and replaced on demand; without a handler its error would crash the process.
    const onError = options.onError ?? (() => {})
    this.pool.on('error', onError)
    this.listener = new PgListener(config, this.channel, (payload) => this.heard(payload), () => this.emit([{ kind: 'changed' }]), onError)
    this.sender = new NoteSender(options.notifyDebounceMs ?? 5, this.origin, (payloads) =>
      this.pool.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [this.channel, payloads]).then(() => {}),
    )
  }

  // ─── Lifecycle ────────────────────────────────────────────────────────────────────────────────

  now(): Promise<number> {
    return this.track(async () => (await this.one<{ now: Date }>('SELECT now() AS now', []))!.now.getTime())
  }

  migrate(): Promise<{ applied: number[]; version: number }> {
    return this.track(async () => {
      const result = await this.migrateSchema()
      await this.fingerprintBackfill()
      return result
    })
  }

  private migrateSchema(): Promise<{ applied: number[]; version: number }> {
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_MIGRATE, this.lockKey])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.schema}.migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
      const current = ((await client.query(`SELECT max(version) AS v FROM ${this.schema}.migrations`)).rows[0] as { v: number | null }).v ?? 0
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
        await client.query(migration.sql.replaceAll('{schema}', this.schema))
        await client.query(`INSERT INTO ${this.schema}.migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name])
        applied.push(migration.version)
      }
      return { applied, version: Math.max(current, ...applied) }
    })
  }

  /**
   * Fingerprints failed jobs that have none: those failed before migration 3 added fingerprints
   * (a hash in JS, so no migration's SQL can compute it). A batch at a time, each row updated only
   * if it is still failed without one; processes starting together share the work (SKIP LOCKED is
   * not needed: a row done twice gets the same value). A batch that finds nothing left ends it, so
   * a later start finishes what a crash interrupted, and every other start costs one index look.
   */
  private async fingerprintBackfill(): Promise<void> {
    for (;;) {
      const rows = await this.rows<{ seq: number; error: { name: string; message: string; stack?: string | null } | null }>(
        this.pool,
        `SELECT seq, errors -> -1 AS error FROM ${this.schema}.jobs WHERE state = 'failed' AND error_fingerprint IS NULL LIMIT $1`,
        [BACKFILL_BATCH],
      )
      if (rows.length === 0) return
      await this.rows(
        this.pool,
        `UPDATE ${this.schema}.jobs j SET error_fingerprint = f.fingerprint FROM unnest($1::bigint[], $2::text[]) AS f(seq, fingerprint)
         WHERE j.seq = f.seq AND j.state = 'failed' AND j.error_fingerprint IS NULL`,
        [rows.map((row) => row.seq), rows.map((row) => failureFingerprint(row.error === null ? [] : [row.error]))],
      )
      if (rows.length < BACKFILL_BATCH) return
    }
  }

  close(): Promise<void> {
    // Closed at once for new calls; the pool ends after the calls already under way settle.
    this.closed = true
    this.closing ??= (async () => {
      this.listeners.clear()
      await this.listener.stop()
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
      await this.sender.close()
      await this.pool.end()
    })()
    return this.closing
  }

  listen(listener: (note: StoreNote) => void): () => void {
    this.listeners.add(listener)
    if (this.listeners.size === 1 && !this.closed) void this.listener.start()
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) void this.listener.stop()
    }
  }

  // ─── Enqueue ──────────────────────────────────────────────────────────────────────────────────

  jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    const shareable =
      params.transaction === undefined &&
      params.now === undefined &&
      params.jobs.length > 0 &&
      params.jobs.length <= SHARED_CALL_MAX &&
      (params.maxQueued === undefined || params.jobs.every((job) => !params.maxQueued!.has(job.queue)))
    return this.track(() => (shareable ? this.insertShared(params.jobs) : this.insertMany(params)))
  }

  /**
   * Small enqueues from concurrent callers (an HTTP server's requests, a web app's handlers) that
   * arrive in the same event-loop turn go to the database together: one statement, one commit and
   * one WAL flush for all of them instead of one each — group commit, as the SQLite store does per
   * turn. Each caller still resolves only after that commit. Should the shared batch fail (one
   * caller's job id already stored, say), each call is run again on its own, so every caller gets
   * exactly the answer it would have got alone.
   */
  private insertShared(jobs: JobInsert[]): Promise<JobInsertResult[]> {
    return new Promise((resolve, reject) => {
      this.sharedInserts.push({ jobs, resolve, reject })
      if (this.sharedInserts.length === 1) setImmediate(() => this.flushShared())
    })
  }

  private flushShared(): void {
    const waiting = this.sharedInserts
    this.sharedInserts = []
    // Several batches rather than one huge one when very many callers share a turn.
    for (let start = 0; start < waiting.length; ) {
      const calls: SharedInsert[] = []
      let size = 0
      while (start < waiting.length && (calls.length === 0 || size + waiting[start]!.jobs.length <= SHARED_BATCH_MAX)) {
        size += waiting[start]!.jobs.length
        calls.push(waiting[start++]!)
      }
      void this.insertCalls(calls)
    }
  }

  private async insertCalls(calls: SharedInsert[]): Promise<void> {
    if (calls.length > 1) {
      try {
        const results = await this.insertMany({ jobs: calls.flatMap((call) => call.jobs) })
        let offset = 0
        for (const call of calls) call.resolve(results.slice(offset, (offset += call.jobs.length)))
        return
      } catch (error) {
        // A refused statement (an id already stored, a value the database rejects) wrote nothing:
        // one transaction, or one statement. Find whose it was by running each call alone. Any
        // other failure (a lost connection) would have failed each call alone as well, and must
        // not be retried: the batch may have committed before the answer was lost.
        if (!refusedByDatabase(error)) {
          for (const call of calls) call.reject(error)
          return
        }
      }
    }
    await Promise.all(calls.map((call) => this.insertMany({ jobs: call.jobs }).then(call.resolve, call.reject)))
  }

  private insertMany(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    return (async () => {
      if (params.jobs.length === 0) return []
      const at = params.now === undefined ? null : new Date(params.now)
      // Checked by the runtime (Offload.transactionOf), as the contract has stores assume.
      const outside = params.transaction as Queryable | undefined
      // Within one batch a key goes to its first job; later jobs with it get that job back.
      const firstWithKey = new Map<string, number>()
      const candidates: number[] = []
      params.jobs.forEach((job, i) => {
        if (job.key === undefined) return candidates.push(i)
        const name = keyName(job)
        if (!firstWithKey.has(name)) {
          firstWithKey.set(name, i)
          candidates.push(i)
        }
      })
      // Only a batch with a job for a capped queue pays for the count (and the transaction it needs).
      const caps = params.maxQueued
      const capped = caps !== undefined && caps.size > 0 && candidates.some((i) => caps.has(params.jobs[i]!.queue))
      const grouped = candidates.some((i) => params.jobs[i]!.group !== undefined)
      const notes = new NoteSet()
      const run = async (client: Queryable): Promise<JobInsertResult[]> => {
        const results: (JobInsertResult | undefined)[] = new Array(params.jobs.length)
        let insert = candidates
        if (firstWithKey.size > 0) {
          const held = await this.takeKeys(client, candidates.map((i) => params.jobs[i]!).filter((job) => job.key !== undefined), at)
          insert = candidates.filter((i) => {
            const holder = params.jobs[i]!.key === undefined ? undefined : held.get(keyName(params.jobs[i]!))
            if (holder !== undefined) results[i] = { ...holder, existing: true }
            return holder === undefined
          })
        }
        if (capped) await this.checkQueueCaps(client, insert.map((i) => params.jobs[i]!).filter((job) => caps.has(job.queue)), caps, at)
        const jobs = insert.map((i) => params.jobs[i]!)
        const ranks = grouped ? await this.groupRanks(client, jobs) : undefined
        const ranked = ranks === undefined ? jobs : jobs.map((job, n): RankedInsert => (ranks[n] === undefined ? job : { ...job, rank: ranks[n] }))
        const inserted = await this.insertJobs(client, ranked, at, notes, outside !== undefined)
        insert.forEach((i, n) => (results[i] = { id: inserted[n]!.id, state: inserted[n]!.state, existing: false }))
        params.jobs.forEach((job, i) => {
          if (results[i] !== undefined) return
          const first = results[firstWithKey.get(keyName(job))!]!
          results[i] = { id: first.id, state: first.state, existing: true }
        })
        return results as JobInsertResult[]
      }
      // In the application's transaction every note went out inside it, delivered at its commit
      // (to this process too); telling anyone sooner would send them looking for rows not yet there.
      if (outside !== undefined) return run(outside)
      const results = firstWithKey.size > 0 || capped || grouped ? await this.transaction(run) : await run(this.pool)
      this.emit(notes.toNotes())
      // Queues whose NOTIFY was skipped inside the transaction (notified a moment ago) and due
      // times get theirs after commit.
      this.sender.send(notes, true)
      return results
    })()
  }

  /**
   * The jobs with their group ranks: a group's jobs get its next ranks, starting no lower than the
   * queue's head (the highest rank claimed), so a group that waited joins at the current turn. The
   * groups' rows stay locked until the insert commits, so concurrent inserts of one group's jobs
   * take ranks one after the other; they are locked in name order, so two never deadlock.
   */
  private async groupRanks(client: Queryable, jobs: readonly { queue: string; group?: string }[]): Promise<(number | undefined)[]> {
    const sizes = new Map<string, { queue: string; group: string; n: number }>()
    for (const job of jobs) {
      if (job.group === undefined) continue
      const id = `${job.queue}\u0000${job.group}`
      const entry = sizes.get(id)
      if (entry === undefined) sizes.set(id, { queue: job.queue, group: sanitize(job.group), n: 1 })
      else entry.n++
    }
    if (sizes.size === 0) return jobs.map(() => undefined)
    const groups = [...sizes.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : a.group < b.group ? -1 : a.group > b.group ? 1 : 0))
    const args = [groups.map((g) => g.queue), groups.map((g) => g.group), groups.map((g) => g.n)]
    await client.query(
      this.text('groups-lock', () => `INSERT INTO ${this.schema}.groups AS g (queue, group_key, next_rank)
        SELECT queue, group_key, 0 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(queue, group_key, ord) ORDER BY ord
        ON CONFLICT (queue, group_key) DO UPDATE SET next_rank = g.next_rank`),
      args.slice(0, 2),
    )
    const firsts = await this.rows<{ queue: string; group_key: string; first: string }>(
      client,
      this.text('groups-rank', () => `UPDATE ${this.schema}.groups g
        SET next_rank = greatest(g.next_rank, coalesce((SELECT rank_head FROM ${this.schema}.queue_flow f WHERE f.queue = i.queue), 0)) + i.n
        FROM unnest($1::text[], $2::text[], $3::int[]) AS i(queue, group_key, n)
        WHERE g.queue = i.queue AND g.group_key = i.group_key
        RETURNING g.queue, g.group_key, g.next_rank - i.n AS first`),
      args,
    )
    const next = new Map(firsts.map((row) => [`${row.queue}\u0000${row.group_key}`, Number(row.first)]))
    return jobs.map((job) => {
      if (job.group === undefined) return undefined
      const id = `${job.queue}\u0000${sanitize(job.group)}`
      const rank = next.get(id)!
      next.set(id, rank + 1)
      return rank
    })
  }

  /** Takes the keys free for the jobs given; returns the holders of the others. */
  private async takeKeys(client: Queryable, jobs: JobInsert[], at: Date | null): Promise<Map<string, { id: string; state: JobState }>> {
    const taken = await this.rows<{ task: string; key: string }>(
      client,
      `INSERT INTO ${this.schema}.keys (task, key, job_id)
       SELECT * FROM unnest($2::text[], $3::text[], $4::text[])
       ON CONFLICT (task, key) DO UPDATE SET job_id = excluded.job_id, expires_at = NULL
         WHERE keys.expires_at IS NOT NULL AND keys.expires_at <= ${AT}
       RETURNING task, key`,
      [at, jobs.map((job) => job.task), jobs.map((job) => sanitize(job.key!)), jobs.map((job) => job.id)],
    )
    const takenNames = new Set(taken.map((row) => `${row.task}\u0000${row.key}`))
    const others = jobs.filter((job) => !takenNames.has(keyName(job)))
    const held = new Map<string, { id: string; state: JobState }>()
    if (others.length === 0) return held
    // The conflicting rows were committed by the time ON CONFLICT returned, so this statement's
    // snapshot sees them; the key rows stay locked by us until we commit, so no prune removes them.
    const rows = await this.rows<{ task: string; key: string; id: string; state: JobState }>(
      client,
      `SELECT k.task, k.key, j.id, j.state FROM ${this.schema}.keys k JOIN ${this.schema}.jobs j ON j.id = k.job_id
       WHERE (k.task, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [others.map((job) => job.task), others.map((job) => sanitize(job.key!))],
    )
    for (const row of rows) held.set(`${row.task}\u0000${row.key}`, { id: row.id, state: row.state })
    return held
  }

  /**
   * Throws `QueueFullError` for the first queue that the jobs landing in `queued` would take past
   * its cap. Runs in the insert's transaction, after the keys are taken (a job returning a holder
   * does not count) and before anything else is written, so a refused batch leaves no dead rows in
   * the table claims read, however hard producers push against a full queue.
   */
  private async checkQueueCaps(client: Queryable, jobs: JobInsert[], caps: ReadonlyMap<string, number>, at: Date | null): Promise<void> {
    if (jobs.length === 0) return
    // Counting stops at the cap: a full queue of a million jobs costs no more than one at its cap.
    const full = await this.rows<{ queue: string; cap: number | string; queued: number | string }>(
      client,
      this.text('queue-caps', () => `SELECT c.queue, c.cap, q.queued FROM (
           SELECT j.queue, j.cap, count(*) AS n, min(j.ord) AS ord
           FROM unnest($2::text[], $3::bigint[], $4::float8[], $5::float8[]) WITH ORDINALITY AS j(queue, cap, run_at, delay_ms, ord)
           WHERE ${dueSql('j.run_at', 'j.delay_ms')} <= ${AT}
           GROUP BY j.queue, j.cap
         ) AS c
         CROSS JOIN LATERAL (
           SELECT count(*) AS queued FROM (
             SELECT 1 FROM ${this.schema}.jobs WHERE state = 'queued' AND queue = c.queue LIMIT c.cap
           ) AS counted
         ) AS q
         WHERE q.queued + c.n > c.cap
         ORDER BY c.ord LIMIT 1`),
      [at, jobs.map((job) => job.queue), jobs.map((job) => caps.get(job.queue)!), jobs.map((job) => job.runAt ?? null), jobs.map((job) => job.delayMs ?? null)],
    )
    // Bigints, which the application's own client (`transaction`) hands over as text.
    if (full.length > 0) throw new QueueFullError(full[0]!.queue, Number(full[0]!.cap), Number(full[0]!.queued))
  }

  /**
   * Inserts jobs with their events in one statement, notifying other processes inside it. Adds to
   * `notes` what is still to be told after commit: the ready queues whose in-transaction
   * notification the debounce skipped, and due times (unless `allInside`, where nothing waits).
   */
  private async insertJobs(client: Queryable, jobs: JobInsert[], at: Date | null, notes: NoteSet, allInside: boolean): Promise<{ id: string; state: JobState }[]> {
    if (jobs.length === 0) return []
    const queues = [...new Set(jobs.map((job) => job.queue))]
    const notifyNow = allInside ? queues : this.sender.claimReady(queues)
    const input = insertInput(jobs)
    // One summary row comes back, not a row per job: the ids are ours already, and a batch is
    // usually all due now. Only a batch that mixes due and scheduled jobs lists the scheduled ones.
    const summary = (await this.rows<{ scheduled: number; scheduled_ids: string[] | null; due: number | null }>(
      client,
      this.text(allInside ? 'insert-inside' : 'insert', () => this.insertSql(allInside)),
      [at, input.ids, input.payloads, input.keys, input.varying, ...input.shared, this.channel, allInside ? '' : this.origin, notifyNow, allInside],
    ))[0]!
    const scheduled = summary.scheduled === 0 ? undefined : new Set(summary.scheduled === jobs.length ? jobs.map((job) => job.id) : summary.scheduled_ids)
    if (scheduled === undefined) for (const queue of queues) notes.ready.add(queue)
    else for (const job of jobs) if (!scheduled.has(job.id)) notes.ready.add(job.queue)
    if (summary.due !== null) notes.due = Math.min(notes.due, summary.due)
    for (const queue of notifyNow) notes.readySent.add(queue)
    return jobs.map((job) => ({ id: job.id, state: scheduled?.has(job.id) === true ? 'scheduled' : 'queued' }))
  }

  /**
   * Jobs with their events in one statement, notifying other processes inside it. Ids, payloads and
   * keys come as arrays; a column the whole batch shares (one task's jobs share most) comes once, as
   * a scalar, and only the columns that differ between jobs come per job, in one JSON array (NULL
   * when none do). 13 parallel arrays cost node-pg an escaped element each and the heap a GC; a
   * JSON document of every column costs the server more to take apart than arrays do.
   *
   * Inside the application's transaction (`allInside`) the event gate is not taken: it would be
   * held until that transaction ends, however long, and a reader of the log's tail waiting for it
   * would hold up every other writer meanwhile. The cost: a follower of the whole log that already
   * read past this event's seq when the transaction commits does not see it (see docs/postgres.md).
   */
  private insertSql(allInside: boolean): string {
    const first = 6
    const value = (column: SharedColumn): string => `coalesce(v.${column}, $${first + SHARED_COLUMNS.indexOf(column)}::${SHARED_TYPES[column]})`
    const after = first + SHARED_COLUMNS.length
    return `WITH timed AS (
         SELECT i.ord, i.id, i.key, i.payload, ${SHARED_COLUMNS.filter((c) => c !== 'run_at' && c !== 'delay_ms').map((c) => `${value(c)} AS ${c}`).join(', ')},
           ${dueSql(value('run_at'), value('delay_ms'))} AS due
         FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS i(id, payload, key, ord)
           LEFT JOIN ROWS FROM (json_to_recordset($5::json) AS (${SHARED_COLUMNS.map((c) => `${c} ${SHARED_TYPES[c]}`).join(', ')}))
             WITH ORDINALITY AS v(${SHARED_COLUMNS.join(', ')}, ord) ON v.ord = i.ord
       ),
       inserted AS (
         INSERT INTO ${this.schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, timeout_ms, backoff, key,
           key_ttl_ms, payload, metadata, webhook, created_at, group_key, group_rank)
         SELECT id, task, queue, CASE WHEN due > ${AT} THEN 'scheduled' ELSE 'queued' END, priority, due, max_attempts, timeout_ms,
           backoff::json, key, key_ttl_ms, payload::json, metadata::json, webhook, ${AT}, group_key, group_rank
         FROM timed ORDER BY ord
         RETURNING seq, id, state, queue, run_at
       ),
       ${this.countedSql('inserted', 'NULL', 's.state')},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
         SELECT seq, ${AT}, 'enqueued', state, 0 FROM inserted${allInside ? '' : this.eventGate}
         ORDER BY seq
       ),
       notified AS (
         SELECT count(pg_notify($${after}, p)) AS n FROM (
           SELECT $${after + 1} || '|r|' || queue AS p FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'queued' AND queue = ANY($${after + 2}::text[])) AS q
           UNION ALL
           SELECT $${after + 1} || '|d|' || ${EPOCH_MS('min(run_at)')} FROM inserted WHERE state = 'scheduled' AND $${after + 3} HAVING count(*) > 0
         ) AS payloads
       )
       SELECT count(*) FILTER (WHERE state = 'scheduled')::int AS scheduled,
         CASE WHEN count(*) FILTER (WHERE state = 'scheduled') NOT IN (0, count(*)) THEN array_agg(id) FILTER (WHERE state = 'scheduled') END
           AS scheduled_ids,
         ${EPOCH_MS("min(run_at) FILTER (WHERE state = 'scheduled')")} AS due
       FROM inserted, notified`
  }

  // ─── Reads ────────────────────────────────────────────────────────────────────────────────────

  jobGet(params: { id: string }): Promise<JobInfo | undefined> {
    return this.track(async () => {
      const row = await this.one<JobRow>(`SELECT * FROM ${this.schema}.jobs WHERE id = $1`, [params.id])
      return row === undefined ? undefined : toJobInfo(row)
    })
  }

  jobList(params: JobListParams): Promise<JobInfo[]> {
    return this.track(() => this.list(params))
  }

  private async list(params: JobListParams): Promise<JobInfo[]> {
    const where: string[] = []
    const values: unknown[] = []
    if (params.states !== undefined && params.states.length > 0) {
      values.push(params.states)
      where.push(`state = ANY($${values.length}::text[])`)
    }
    if (params.queue !== undefined) {
      values.push(params.queue)
      where.push(`queue = $${values.length}`)
    }
    if (params.task !== undefined) {
      values.push(params.task)
      where.push(`task = $${values.length}`)
    }
    // Each reads its own partial index: the key index, or the failed jobs' (the state literal
    // matches its predicate whatever the plan).
    if (params.key !== undefined) {
      values.push(sanitize(params.key))
      where.push(`key = $${values.length}`)
    }
    if (params.fingerprint !== undefined) {
      values.push(params.fingerprint)
      where.push(`state = 'failed' AND error_fingerprint = $${values.length}`)
    }
    if (params.before !== undefined) {
      values.push(params.before)
      where.push(`id < $${values.length}`)
    }
    values.push(params.limit)
    const rows = await this.rows<JobRow>(
      this.pool,
      `SELECT * FROM ${this.schema}.jobs ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${values.length}`,
      values,
    )
    return rows.map(toJobInfo)
  }

  jobCounts(): Promise<JobCount[]> {
    return this.track(() => this.rows<JobCount>(this.pool, this.text('job-counts', () => queueReadSql(this.schema).counts), []))
  }

  eventList(params: EventListParams): Promise<JobEvent[]> {
    return this.track(() => this.events(params))
  }

  private async events(params: EventListParams): Promise<JobEvent[]> {
    const columns = `e.seq, j.id, j.task, j.queue, e.at, e.type, e.state, e.attempt, e.data`
    if (params.jobId !== undefined) {
      // One job's events are written by transactions that each lock the job's row first, so
      // they commit in seq order and a per-job follower needs no horizon.
      const rows = await this.rows<EventRow>(
        this.pool,
        `SELECT ${columns} FROM ${this.schema}.jobs j JOIN ${this.schema}.events e ON e.job_seq = j.seq
         WHERE j.id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`,
        [params.jobId, params.after ?? 0, params.limit],
      )
      return rows.map(toJobEvent)
    }
    const horizon = await this.horizon()
    const rows = await this.rows<EventRow>(
      this.pool,
      `SELECT ${columns} FROM ${this.schema}.events e JOIN ${this.schema}.jobs j ON j.seq = e.job_seq
       WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq LIMIT $3`,
      [params.after ?? 0, horizon, params.limit],
    )
    return rows.map(toJobEvent)
  }

  eventLastSeq(): Promise<number> {
    return this.track(() => this.horizon())
  }

  private async horizon(): Promise<number> {
    const row = await this.one<{ horizon: number }>(`SELECT ${this.schema}.event_horizon($1, $2) AS horizon`, [LOCK_EVENTS, this.lockKey])
    return row!.horizon
  }

  // ─── Claim, heartbeat, finish ─────────────────────────────────────────────────────────────────

  jobClaim(params: JobClaimParams): Promise<ClaimedJob[]> {
    return this.track(async () => {
      if (params.queues.length === 0 || params.limit <= 0) return []
      const at = params.now === undefined ? null : new Date(params.now)
      const excluded = exclusionArrays(params.exclude)
      const rows = params.queues.some((queue) => params.limits?.has(queue))
        ? await this.claimLimited(params, at, excluded)
        : await this.claimOpen(params, at, params.queues, params.limit, excluded)
      return rows.map((row) => ({
        id: row.id,
        task: row.task,
        queue: row.queue,
        payload: row.payload,
        metadata: row.metadata ?? {},
        priority: row.priority,
        attempt: row.attempt,
        maxAttempts: row.max_attempts,
        lease: row.lease,
        timeoutMs: row.timeout_ms ?? undefined,
        backoff: row.backoff ?? undefined,
        key: row.key ?? undefined,
        ...(row.group_key === null ? {} : { group: row.group_key }),
        createdAt: new Date(row.created_ms),
        runAt: new Date(row.run_ms),
      }))
    })
  }

  /**
   * The claim of queues with limits. Each limited queue is claimed in a transaction of its own
   * (`claimLimitedQueue`): the queue's advisory lock, then one statement that counts the queue's
   * room and claims it. The statement's snapshot is taken when it starts, after the lock, so every
   * claim of the queue, in any process, sees the running jobs and the rate window as the last one
   * left them. Finishes never take the lock: they only lower the running count, so a claim that
   * misses one takes fewer jobs, never more. The unlimited queues of the claim go last, as an
   * ordinary claim of what room is left.
   */
  private async claimLimited(params: JobClaimParams, at: Date | null, excluded: [string[], string[]]): Promise<ClaimRow[]> {
    const claimed: ClaimRow[] = []
    const open: string[] = []
    // In name order: two claims of the same queues never wait for each other crosswise.
    for (const queue of [...params.queues].sort()) {
      const limits = params.limits?.get(queue)
      if (limits === undefined) {
        open.push(queue)
        continue
      }
      // Read a little past the room first; a claim that passed over rows (excluded jobs, groups at
      // their limit), read all it was allowed to and still came back short reads on, eight times
      // further each time.
      for (let extra = 16; claimed.length < params.limit; extra *= 8) {
        const rows = await this.claimLimitedQueue(queue, [
          ...claimArgs(params, at, queue, params.limit - claimed.length),
          limits.groupConcurrency ?? null,
          Math.min(extra, CLAIM_SCAN_EXTRA),
          ...excluded,
          limits.concurrency ?? null,
          limits.rate?.limit ?? null,
          limits.rate?.intervalMs ?? null,
        ])
        const { room, scanned } = rows[0]!
        const picked = rows.filter((row) => row.id !== null)
        claimed.push(...picked)
        if (picked.length >= room || scanned < room + extra || extra >= CLAIM_SCAN_EXTRA) break
      }
    }
    if (open.length > 0 && claimed.length < params.limit) claimed.push(...(await this.claimOpen(params, at, open, params.limit - claimed.length, excluded)))
    return claimed
  }

  /**
   * One limited queue's claim (`claimLimitedSql` with `args`) in one round trip: the queue's lock,
   * then the statement, sent as one simple query, which runs as one transaction whose statements
   * each read a snapshot taken as they start — the claim's after the lock. A simple query takes no
   * parameters, so the statement is prepared once per connection and executed with its arguments
   * written as literals: planned once, not on every claim. No bitmap scans in it: counting the
   * running jobs, a plain index scan marks the entries of jobs finished since the last vacuum dead
   * as it meets them, where a bitmap scan visits every one of them again on every claim.
   */
  private async claimLimitedQueue(queue: string, args: unknown[]): Promise<(ClaimRow & { room: number; scanned: number })[]> {
    const lock = `SELECT pg_advisory_xact_lock(hashtextextended(${pg.escapeLiteral(`${this.schema}:${queue}`)}, 0))`
    const run = `${lock}; SELECT set_config('enable_bitmapscan', 'off', true); EXECUTE ${LIMITED_CLAIM}(${args.map(sqlLiteral).join(', ')})`
    for (let attempt = 1; ; attempt++) {
      const { client, release } = await this.checkout()
      try {
        if (!this.claimPrepared.has(client)) {
          await client.query(`PREPARE ${LIMITED_CLAIM} (${LIMITED_CLAIM_TYPES}) AS ${this.text('claim-limited', () => this.claimLimitedSql())}`)
          this.claimPrepared.add(client)
        }
        const results = (await client.query(run)) as unknown as pg.QueryResult[]
        return results[2]!.rows as (ClaimRow & { room: number; scanned: number })[]
      } catch (error) {
        // A deadlock rolled the transaction back whole: run it again.
        if (isTransient(error) && attempt < 5) continue
        throw error
      } finally {
        release()
      }
    }
  }

  /** The claim of queues without limits: up to `limit` of their ready jobs in claim order, rows another claim holds skipped. */
  private claimOpen(params: JobClaimParams, at: Date | null, queues: readonly string[], limit: number, excluded: [string[], string[]]): Promise<ClaimRow[]> {
    return this.rows<ClaimRow>(this.pool, this.text('claim', () => this.claimSql(this.claimPickSql())), [...claimArgs(params, at, queues, limit), ...excluded])
  }

  /**
   * The claim of one limited queue, as one statement (`$2` the queue, `$3` the claim's limit,
   * `$7` the group limit or NULL, `$8` how many ready rows to read past the room, `$9`/`$10` the
   * exclusions, `$11` the concurrency limit or NULL, `$12`/`$13` the rate limit and its window in
   * ms or NULL; the rest as in `claimSql`). Its room is the limit less what the running jobs take
   * of the concurrency limit and this window's claims take of the rate limit. It is filled from
   * the ready index in claim order, passing over jobs excluded and jobs of groups at their limit;
   * no row is locked (under the queue's lock no other claim takes them, and a row lock writes the
   * row: a pick that reads past a busy group would write every row it passed). The claim's time is
   * read once, as it runs — after the counts it went by, not at the transaction's start: a finish
   * counted as done started earlier, so started and finished times never show more jobs running
   * than a limit let through. It answers the room and how many rows it read beside each job
   * claimed, and one row of them alone when it claimed none.
   */
  private claimLimitedSql(): string {
    const windowStart = `(SELECT ${EPOCH_MS('at')} - ${EPOCH_MS('at')} % $13::bigint FROM clock)`
    const prelude = `clock AS MATERIALIZED (SELECT coalesce($1::timestamptz, clock_timestamp()) AS at),
       room AS MATERIALIZED (
         SELECT greatest(0, least($3::int,
           -- Counted up to the limit, no further.
           coalesce($11::int - (SELECT count(*) FROM (SELECT FROM ${this.schema}.jobs WHERE state = 'running' AND queue = $2 LIMIT $11::int) AS r)::int, $3::int),
           coalesce($12::int - coalesce((SELECT rate_used FROM ${this.schema}.queue_flow WHERE queue = $2 AND rate_window = ${windowStart}), 0), $3::int)
         )) AS n
       ),
       candidates AS (
         SELECT seq, priority, group_rank, run_at, group_key FROM ${this.schema}.jobs
         WHERE state = 'queued' AND queue = $2 AND ${exclusionSql('$9', '$10')}
           AND NOT EXISTS (SELECT FROM ${this.schema}.queues p WHERE p.name = $2 AND p.paused)
         ORDER BY ${READY_ORDER('')}
         LIMIT CASE WHEN (SELECT n FROM room) = 0 THEN 0 ELSE (SELECT n FROM room) + $8::int END
       ),
       numbered AS (
         SELECT c.*, row_number() OVER (PARTITION BY c.group_key ORDER BY ${READY_ORDER('c')}) AS nth FROM candidates c
       ),
       running AS MATERIALIZED (
         -- A seek per candidate group: the index's entries of the other groups (and those of jobs
         -- finished since the last vacuum) are never read. Taken once per group, into one object
         -- each candidate looks its group up in: joined as rows, the planner (which guesses one
         -- candidate) compared every candidate with every group, or counted again per candidate.
         SELECT coalesce(jsonb_object_agg(g.group_key, (SELECT count(*) FROM ${this.schema}.jobs r
           WHERE r.state = 'running' AND r.queue = $2 AND r.group_key = g.group_key)), '{}') AS counts
         FROM (SELECT DISTINCT group_key FROM candidates WHERE group_key IS NOT NULL) AS g
         WHERE $7::int IS NOT NULL
       ),
       pick AS MATERIALIZED (
         SELECT (SELECT n FROM room)::int AS room, (SELECT count(*) FROM candidates)::int AS scanned, ARRAY(
           SELECT n.seq FROM numbered n
           WHERE n.group_key IS NULL OR $7::int IS NULL OR n.nth + coalesce(((SELECT counts FROM running) ->> n.group_key)::int, 0) <= $7::int
           ORDER BY ${READY_ORDER('n')} LIMIT (SELECT n FROM room)
         ) AS seqs
       ),`
    // By primary key, not in ready order: ordered, the planner walks the ready index for them.
    const picked = `SELECT j.seq FROM pick CROSS JOIN LATERAL unnest(pick.seqs) AS p(seq)
           CROSS JOIN LATERAL (SELECT seq FROM ${this.schema}.jobs WHERE seq = p.seq AND state = 'queued') AS j`
    // The round-robin head and the rate window's count, in one write of the queue's row.
    const flow = `flow AS (
         INSERT INTO ${this.schema}.queue_flow AS f (queue, rank_head, rate_window, rate_used)
         SELECT $2, coalesce(max(c.group_rank), 0), coalesce(${windowStart}, 0),
           coalesce((SELECT rate_used FROM ${this.schema}.queue_flow WHERE queue = $2 AND rate_window = ${windowStart}), 0) + count(*)
         FROM claimed c HAVING count(*) > 0 AND (max(c.group_rank) IS NOT NULL OR $12::int IS NOT NULL)
         ON CONFLICT (queue) DO UPDATE SET rank_head = greatest(f.rank_head, excluded.rank_head),
           rate_window = CASE WHEN $12::int IS NULL THEN f.rate_window ELSE excluded.rate_window END,
           rate_used = CASE WHEN $12::int IS NULL THEN f.rate_used ELSE excluded.rate_used END
       )`
    return this.claimSql(picked, { prelude, at: '(SELECT at FROM clock)', flow, answer: 'pick' })
  }

  /**
   * Each queue's best candidates come from its own range of the partial ready index; locked ones
   * (another worker is claiming them) are skipped, never waited for. Rows come back in claim order,
   * with their times as epoch milliseconds: a worker parses no timestamp text on its hot path.
   *
   * A paused queue's range is not read at all, so none of its rows is locked even for a moment:
   * the test of the queues table names only the queue, so it runs once, before the scan.
   *
   * A claim commits without waiting for its WAL flush (`synchronous_commit` off for this statement's
   * transaction alone): it acknowledges nothing to anyone, and the claimed job's outcome commits
   * with the flush on, which writes the log up to that point — the claim included. A server crash
   * before then only takes the claim back: the job is queued again and runs again.
   */
  private claimPickSql(): string {
    return `SELECT c.seq FROM unnest($2::text[]) AS q(name) CROSS JOIN LATERAL (
           SELECT seq, priority, group_rank, run_at FROM ${this.schema}.jobs
           WHERE state = 'queued' AND queue = q.name AND ${exclusionSql('$7', '$8')}
             AND NOT EXISTS (SELECT FROM ${this.schema}.queues p WHERE p.name = q.name AND p.paused)
           ORDER BY ${READY_ORDER('')} LIMIT $3
           FOR UPDATE SKIP LOCKED
         ) AS c
         ORDER BY ${READY_ORDER('c')} LIMIT $3`
  }

  /**
   * The claim of the jobs `pick` selects (`$1` now, `$3` the limit, `$4` the worker, `$5` the
   * lease, `$6` the started event's data). Also moves each queue's round-robin head up to the
   * highest group rank claimed; a claim of ungrouped jobs writes nothing there. A limited claim
   * (`claimLimitedSql`) puts its own statements first (`prelude`), claims at its own time (`at`),
   * writes the queue's flow row its own way (`flow`) and answers beside the jobs what the CTE it
   * names (`answer`) holds.
   */
  private claimSql(pick: string, options: { prelude?: string; at?: string; flow?: string; answer?: string } = {}): string {
    const at = options.at ?? AT
    const columns = `id, task, queue, payload, metadata, priority, attempt, max_attempts, lease, timeout_ms, backoff, key, group_key,
         ${FLOOR_MS('run_at')} AS run_ms, ${FLOOR_MS('created_at')} AS created_ms`
    return `WITH ${options.prelude ?? ''} picked AS (${pick}),
       claimed AS (
         UPDATE ${this.schema}.jobs j SET state = 'running', attempt = j.attempt + 1, lease = j.lease + 1, worker_id = $4,
           lease_expires_at = ${at} + ${ms('$5')}, started_at = ${at}
         FROM picked WHERE j.seq = picked.seq AND j.state = 'queued'
         RETURNING j.seq, j.id, j.task, j.queue, j.payload, j.metadata, j.priority, j.run_at, j.attempt, j.max_attempts,
           j.lease, j.timeout_ms, j.backoff, j.key, j.created_at, j.group_key, j.group_rank
       ),
       ${this.countedSql('claimed', "'queued'", "'running'")},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
         SELECT seq, ${at}, 'started', 'running', attempt, $6::json FROM claimed${this.eventGate}
         ORDER BY ${READY_ORDER('')}
       ),
       ${
         options.flow ??
         `heads AS (
         INSERT INTO ${this.schema}.queue_flow AS f (queue, rank_head)
         SELECT queue, max(group_rank) FROM claimed WHERE group_rank IS NOT NULL GROUP BY queue
         ON CONFLICT (queue) DO UPDATE SET rank_head = greatest(f.rank_head, excluded.rank_head)
       )`
       },
       relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)
       ${
         options.answer === undefined
           ? `SELECT ${columns} FROM claimed CROSS JOIN relaxed ORDER BY ${READY_ORDER('')}`
           : `SELECT a.room, a.scanned, c.* FROM ${options.answer} a CROSS JOIN relaxed
         LEFT JOIN LATERAL (SELECT ${columns}, row_number() OVER (ORDER BY ${READY_ORDER('')}) AS nth FROM claimed) AS c ON true ORDER BY c.nth`
       }`
  }

  jobHeartbeat(params: JobHeartbeatParams): Promise<LostLease[]> {
    return this.track(async () => {
      if (params.leases.length === 0) return []
      const rows = await this.rows<{ id: string; state: JobState | null }>(
        this.pool,
        this.text('heartbeat', () => `WITH input AS (SELECT * FROM unnest($2::text[], $3::int[]) AS i(id, lease)),
         extended AS (
           UPDATE ${this.schema}.jobs j SET lease_expires_at = ${AT} + ${ms('$4')}
           FROM input WHERE j.id = input.id AND j.lease = input.lease AND j.state = ANY($5::text[])
           RETURNING j.id
         )
         SELECT input.id, j.state FROM input LEFT JOIN ${this.schema}.jobs j ON j.id = input.id
         WHERE input.id NOT IN (SELECT id FROM extended)`),
        [params.now === undefined ? null : new Date(params.now), params.leases.map((l) => l.id), params.leases.map((l) => l.lease), params.leaseMs, RUNNING],
      )
      return rows.map((row) => ({ id: row.id, state: row.state ?? 'missing' }))
    })
  }

  jobFinishMany(params: JobFinishManyParams): Promise<boolean[]> {
    return this.track(async () => {
      if (params.finishes.length === 0) return []
      const at = params.now === undefined ? null : new Date(params.now)
      const notes = new NoteSet()
      const run = async (client: Queryable): Promise<boolean[]> => {
        const applied: boolean[] = new Array(params.finishes.length)
        // Runs of completions go in one statement; other outcomes one by one, in order, so two
        // finishes of the same lease in one batch resolve as they would one after the other.
        let completions: number[] = []
        const completeRun = async (): Promise<void> => {
          if (completions.length === 0) return
          const run = completions
          completions = []
          const done = await this.completeMany(client, run.map((i) => params.finishes[i] as JobFinish & { result: string }), at)
          for (const i of run) {
            const id = params.finishes[i]!.id
            applied[i] = done.delete(id)
            if (applied[i]) notes.finished.push(id)
          }
        }
        for (let i = 0; i < params.finishes.length; i++) {
          const finish = params.finishes[i]!
          if (finish.outcome === 'completed') {
            completions.push(i)
            continue
          }
          await completeRun()
          const row = await this.finishOne(client, finish, at)
          applied[i] = row !== undefined
          if (row === undefined) continue
          if (finish.outcome === 'failed') notes.finished.push(row.id)
          else if (finish.outcome === 'released') notes.ready.add(row.queue)
          else notes.due = Math.min(notes.due, row.run_at.getTime())
        }
        await completeRun()
        return applied
      }
      const onlyCompletions = params.finishes.every((finish) => finish.outcome === 'completed')
      const applied = onlyCompletions ? await run(this.pool) : await this.transaction(run)
      this.after(notes)
      return applied
    })
  }

  /**
   * Completes many jobs, appends their events and frees their keys, in one statement. Returns the
   * ids completed. One row comes back: a count, and the ids only when some lease no longer held.
   */
  private async completeMany(client: Queryable, completions: (JobFinish & { result: string })[], at: Date | null): Promise<Set<string>> {
    const [row] = await this.rows<{ count: number; ids: string[] | null }>(
      client,
      this.text('complete', () => `WITH input AS (SELECT * FROM unnest($2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS i(id, lease, result, ord)),
       changed AS (
         UPDATE ${this.schema}.jobs j SET state = 'completed', result = input.result::json, finished_at = ${AT},
           worker_id = NULL, lease_expires_at = NULL, webhook_due = (j.webhook IS NOT NULL)
         FROM input WHERE j.id = input.id AND j.lease = input.lease AND j.state = ANY($5::text[])
         RETURNING j.seq, j.id, j.task, j.queue, j.state, j.attempt, j.key, j.key_ttl_ms, input.ord
       ),
       ${this.countedSql('changed', "'running'", "'completed'")},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
         SELECT seq, ${AT}, 'completed', 'completed', attempt FROM changed${this.eventGate}
         ORDER BY ord
       ),
       ${this.releaseKeysSql('changed')}
       SELECT count(*)::int AS count, CASE WHEN count(*) < cardinality($2::text[]) THEN array_agg(id) END AS ids FROM changed`),
      [at, completions.map((c) => c.id), completions.map((c) => c.lease), completions.map((c) => c.result), RUNNING],
    )
    return new Set(row!.count === completions.length ? completions.map((c) => c.id) : row!.ids)
  }

  /**
   * A CTE (`counted`) appending to the count deltas what the statement did to the jobs in `source`:
   * each of its rows (as `s`, with a `queue` column) is a job that left state `from` for state `to`,
   * SQL over `s`; `from` NULL for a job created, `to` NULL for one deleted. One delta row per queue
   * and state whose count changed. Every statement that creates, moves or deletes jobs has one:
   * see queue_count_deltas in migrations.ts, and `queueCountsCompact`.
   */
  private countedSql(source: string, from: string, to: string): string {
    const table = `${this.schema}.queue_count_deltas`
    if (from === 'NULL') return `counted AS (INSERT INTO ${table} (queue, state, delta) SELECT s.queue, ${to}, count(*) FROM ${source} s GROUP BY 1, 2)`
    if (to === 'NULL') return `counted AS (INSERT INTO ${table} (queue, state, delta) SELECT s.queue, ${from}, -count(*) FROM ${source} s GROUP BY 1, 2)`
    return `counted AS (
         INSERT INTO ${table} (queue, state, delta)
         SELECT m.queue, m.state, sum(m.delta) FROM ${source} s
           CROSS JOIN LATERAL (VALUES (s.queue, ${from}, -1), (s.queue, ${to}, 1)) AS m(queue, state, delta)
         GROUP BY m.queue, m.state HAVING sum(m.delta) <> 0
       )`
  }

  /**
   * CTEs freeing the keys of the jobs in `source` that just finished: at once, or `key_ttl_ms`
   * later. `source` must return task, id, state, key and key_ttl_ms; `$1` is the time.
   */
  private releaseKeysSql(source: string): string {
    return `keys_kept AS (
         UPDATE ${this.schema}.keys k SET expires_at = ${AT} + ${ms('s.key_ttl_ms')}
         FROM ${source} s WHERE s.key IS NOT NULL AND s.state IN ${FINISHED_SQL} AND s.key_ttl_ms > 0
           AND k.task = s.task AND k.key = s.key AND k.job_id = s.id
       ),
       keys_freed AS (
         DELETE FROM ${this.schema}.keys k USING ${source} s
         WHERE s.key IS NOT NULL AND s.state IN ${FINISHED_SQL} AND coalesce(s.key_ttl_ms, 0) <= 0
           AND k.task = s.task AND k.key = s.key AND k.job_id = s.id
       )`
  }

  private async finishOne(client: Queryable, finish: Exclude<JobFinish, { outcome: 'completed' }>, at: Date | null): Promise<FinishedRow | undefined> {
    const fence = `WHERE id = $2 AND lease = $3 AND state = 'running'`
    const values: unknown[] = [at, finish.id, finish.lease]
    let change: string
    let event: { type: JobEventType; data: string }
    const appendError = (): string => {
      values.push(sanitize(finish.outcome === 'retry' || finish.outcome === 'failed' ? finish.error.name : ''))
      values.push(sanitize(finish.outcome === 'retry' || finish.outcome === 'failed' ? finish.error.message : ''))
      values.push(finish.outcome === 'retry' || finish.outcome === 'failed' ? (finish.error.stack === undefined ? null : sanitize(finish.error.stack)) : null)
      return `errors = coalesce(errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', ${EPOCH_MS(AT)},
        'name', $4::text, 'message', $5::text, 'stack', $6::text))`
    }
    const errorJson = `json_build_object('name', $4::text, 'message', $5::text)`
    switch (finish.outcome) {
      case 'retry':
        change = `state = 'retrying', run_at = ${AT} + ${ms('$7')}, ${appendError()}`
        values.push(finish.delayMs)
        event = { type: 'retrying', data: `json_build_object('error', ${errorJson}, 'runAt', ${ISO('r.run_at')})` }
        break
      case 'failed':
        change = `state = 'failed', finished_at = ${AT}, webhook_due = (webhook IS NOT NULL), ${appendError()}, error_fingerprint = $7`
        // Of the error as stored (sanitised), as the backfill of older failures computes it.
        values.push(errorFingerprint({ name: values[3] as string, message: values[4] as string, stack: values[5] as string | null }))
        event = { type: 'failed', data: `json_build_object('error', ${errorJson})` }
        break
      case 'snoozed':
        change = `state = 'scheduled', run_at = ${AT} + ${ms('$4')}, attempt = attempt - 1`
        values.push(finish.delayMs)
        event = { type: 'snoozed', data: `json_build_object('runAt', ${ISO('r.run_at')})` }
        break
      case 'released':
        change = `state = 'queued', attempt = attempt - 1`
        event = { type: 'released', data: 'NULL::json' }
        break
    }
    return this.one<FinishedRow>(
      `WITH r AS (
         UPDATE ${this.schema}.jobs SET ${change}, worker_id = NULL, lease_expires_at = NULL ${fence}
         RETURNING seq, id, task, queue, state, attempt, run_at, key, key_ttl_ms
       ),
       ${this.countedSql('r', "'running'", 's.state')},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
         SELECT r.seq, ${AT}, '${event.type}', r.state, r.attempt, ${event.data} FROM r${this.eventGate}
       ),
       ${this.releaseKeysSql('r')}
       SELECT * FROM r`,
      values,
      client,
    )
  }

  jobNoteMany(params: JobNoteManyParams): Promise<void> {
    return this.track(async () => {
      if (params.notes.length === 0) return
      // Lock the jobs first so a note and a finish of the same job commit in seq order.
      const rows = await this.rows<{ id: string }>(
        this.pool,
        `WITH input AS (
           SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS i(id, lease, progress, log, ord)
         ),
         held AS (
           SELECT j.seq, j.id, j.attempt FROM ${this.schema}.jobs j
           WHERE j.state = ANY($6::text[]) AND (j.id, j.lease) IN (SELECT id, lease FROM input)
           FOR NO KEY UPDATE
         ),
         progressed AS (
           UPDATE ${this.schema}.jobs j SET progress = latest.progress::json
           FROM (SELECT DISTINCT ON (id) id, progress FROM input WHERE progress IS NOT NULL ORDER BY id, ord DESC) AS latest, held
           WHERE held.id = latest.id AND j.seq = held.seq
         ),
         events AS (
           INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
           SELECT held.seq, ${AT}, x.type, 'running', held.attempt, x.data
           FROM input JOIN held ON held.id = input.id
             CROSS JOIN LATERAL (VALUES
               (1, 'progress', CASE WHEN input.progress IS NOT NULL THEN json_build_object('progress', input.progress::json) END),
               (2, 'log', CASE WHEN input.log IS NOT NULL THEN json_build_object('message', input.log) END)
             ) AS x(n, type, data)${this.eventGate}
           WHERE x.data IS NOT NULL
           ORDER BY input.ord, x.n
         )
         SELECT DISTINCT id FROM held`,
        [
          params.now === undefined ? null : new Date(params.now),
          params.notes.map((note) => note.id),
          params.notes.map((note) => note.lease),
          params.notes.map((note) => note.progress ?? null),
          params.notes.map((note) => (note.log === undefined ? null : sanitize(note.log))),
          RUNNING,
        ],
      )
      if (rows.length > 0) this.after(new NoteSet({ progress: rows.map((row) => row.id) }))
    })
  }

  // ─── Admin ────────────────────────────────────────────────────────────────────────────────────

  jobCancel(params: { id: string; now?: number }): Promise<JobInfo> {
    return this.track(async () => {
      const row = await this.one<JobRow>(
        // The state the job leaves, for the counts: read under the lock the update takes anyway.
        `WITH o AS (SELECT seq, state FROM ${this.schema}.jobs WHERE id = $2 AND state IN ${UNFINISHED_SQL} FOR NO KEY UPDATE),
         r AS (
           UPDATE ${this.schema}.jobs j SET state = 'cancelled', finished_at = ${AT}, worker_id = NULL, lease_expires_at = NULL,
             webhook_due = (j.webhook IS NOT NULL)
           FROM o WHERE j.seq = o.seq RETURNING j.*, o.state AS left_state
         ),
         ${this.countedSql('r', 's.left_state', "'cancelled'")},
         events AS (
           INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
           SELECT r.seq, ${AT}, 'cancelled', 'cancelled', r.attempt FROM r${this.eventGate}
         ),
         ${this.releaseKeysSql('r')},
         -- Workers in other processes abort a cancelled job they run: tell them in this transaction.
         notified AS (SELECT count(pg_notify($3, $4 || '|c|' || r.id)) AS n FROM r)
         SELECT r.* FROM r, notified`,
        [params.now === undefined ? null : new Date(params.now), params.id, this.channel, this.origin],
      )
      if (row === undefined) throw await this.notApplicable(params.id, 'cancel')
      this.after(new NoteSet({ finished: [row.id], cancelled: [row.id] }), true)
      return toJobInfo(row)
    })
  }

  jobRetry(params: { id: string; now?: number }): Promise<JobInfo> {
    return this.track(async () => {
      const at = params.now === undefined ? null : new Date(params.now)
      const row = await this.transaction(async (client) => {
        const current = await this.one<{ seq: number; task: string; key: string | null; state: JobState }>(
          `SELECT seq, task, key, state FROM ${this.schema}.jobs WHERE id = $1 FOR UPDATE`,
          [params.id],
          client,
        )
        if (current === undefined || (current.state !== 'failed' && current.state !== 'cancelled')) {
          throw await this.notApplicable(params.id, 'retry', current?.state)
        }
        if (current.key !== null) {
          const holder = await this.one<{ id: string }>(
            `SELECT j.id FROM ${this.schema}.keys k JOIN ${this.schema}.jobs j ON j.id = k.job_id
             WHERE k.task = $1 AND k.key = $2 AND k.expires_at IS NULL AND k.job_id <> $3`,
            [current.task, current.key, params.id],
            client,
          )
          if (holder !== undefined) {
            throw new OffloadError(
              'INVALID_STATE',
              `job ${params.id} cannot be retried: its key '${current.key}' is held by unfinished job ${holder.id}`,
              { id: params.id, key: current.key, heldBy: holder.id },
            )
          }
          await client.query(
            `INSERT INTO ${this.schema}.keys (task, key, job_id) VALUES ($1, $2, $3)
             ON CONFLICT (task, key) DO UPDATE SET job_id = excluded.job_id, expires_at = NULL`,
            [current.task, current.key, params.id],
          )
        }
        return (await this.one<JobRow>(
          `WITH r AS (
             UPDATE ${this.schema}.jobs SET ${RETRY_SET_SQL}
             WHERE seq = $2 RETURNING *
           ),
           ${this.countedSql('r', '$3::text', "'queued'")},
           events AS (
             INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
             SELECT r.seq, ${AT}, 'retried', 'queued', 0 FROM r${this.eventGate}
           )
           SELECT * FROM r`,
          [at, current.seq, current.state],
          client,
        ))!
      })
      this.after(new NoteSet({ ready: [row.queue] }))
      return toJobInfo(row)
    })
  }

  jobRetryGroup(params: JobRetryGroupParams): Promise<number> {
    return this.track(async () => {
      const at = params.now === undefined ? null : new Date(params.now)
      const { retried, queues } = await this.transaction(async (client) => {
        const queues = new Set<string>()
        let retried = 0
        // Pages of the group, oldest first; a job passed over (its key held) stays failed, so the
        // next page starts after the last job read rather than again from the top.
        for (let after = ''; retried < params.limit; ) {
          const wanted = params.limit - retried
          const page = (await this.one<{ read: number; last: string | null; retried: number; queues: string[] | null }>(
            this.text('retry-group', () => this.retryGroupSql()),
            [at, params.fingerprint, params.queue ?? null, params.task ?? null, after, wanted],
            client,
          ))!
          retried += page.retried
          for (const queue of page.queues ?? []) queues.add(queue)
          if (page.read < wanted) break
          after = page.last!
        }
        return { retried, queues }
      })
      this.after(new NoteSet({ ready: [...queues] }))
      return retried
    })
  }

  /**
   * One page of `jobRetryGroup`: locks the next `$6` failed jobs of the group after id `$5` and
   * retries those whose key is free, as `jobRetry` does each. Of two with one key, the older is
   * retried and then holds it. The key is taken by a conditional upsert, so a key another
   * transaction took meanwhile makes its job stay failed rather than take it over.
   */
  private retryGroupSql(): string {
    return `WITH picked AS MATERIALIZED (
         SELECT seq, id, task, key FROM ${this.schema}.jobs
         WHERE state = 'failed' AND error_fingerprint = $2 AND ($3::text IS NULL OR queue = $3) AND ($4::text IS NULL OR task = $4)
           AND id > $5
         ORDER BY id LIMIT $6
         FOR UPDATE
       ),
       free AS (
         SELECT p.* FROM picked p
         WHERE p.key IS NULL OR (
           NOT EXISTS (SELECT FROM ${this.schema}.keys k WHERE k.task = p.task AND k.key = p.key AND k.expires_at IS NULL AND k.job_id <> p.id)
           AND NOT EXISTS (SELECT FROM picked q WHERE q.task = p.task AND q.key = p.key AND q.id < p.id)
         )
       ),
       keys_taken AS (
         INSERT INTO ${this.schema}.keys (task, key, job_id) SELECT task, key, id FROM free WHERE key IS NOT NULL
         ON CONFLICT (task, key) DO UPDATE SET job_id = excluded.job_id, expires_at = NULL
           WHERE keys.expires_at IS NOT NULL OR keys.job_id = excluded.job_id
         RETURNING job_id
       ),
       r AS (
         UPDATE ${this.schema}.jobs j SET ${RETRY_SET_SQL}
         FROM free f WHERE j.seq = f.seq AND (f.key IS NULL OR f.id IN (SELECT job_id FROM keys_taken))
         RETURNING j.seq, j.queue
       ),
       ${this.countedSql('r', "'failed'", "'queued'")},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
         SELECT r.seq, ${AT}, 'retried', 'queued', 0 FROM r${this.eventGate}
         ORDER BY r.seq
       )
       SELECT (SELECT count(*)::int FROM picked) AS read, (SELECT max(id) FROM picked) AS last,
         (SELECT count(*)::int FROM r) AS retried, (SELECT array_agg(DISTINCT queue) FROM r) AS queues`
  }

  jobFailureGroups(params: JobFailureGroupsParams): Promise<FailureGroup[]> {
    return this.track(async () => {
      const values: unknown[] = [params.limit]
      const param = (value: string): string => `$${values.push(value)}`
      const only = params.fingerprint === undefined ? '' : ` AND error_fingerprint = ${param(params.fingerprint)}`
      const scope = (params.queue === undefined ? '' : ` AND queue = ${param(params.queue)}`) + (params.task === undefined ? '' : ` AND task = ${param(params.task)}`)
      // Both reads are of the failure-groups index: the aggregate covers every column it reads
      // (an index-only scan), and each group's newest failure is a backward seek in its range.
      const rows = await this.rows<{
        fingerprint: string
        count: number
        first_seen: Date
        last_seen: Date
        tasks: string[]
        queues: string[]
        sample_id: string
        sample: { name: string; message: string; stack?: string | null } | null
      }>(
        this.pool,
        `WITH groups AS (
           SELECT error_fingerprint AS fingerprint, count(*)::int AS count, min(finished_at) AS first_seen, max(finished_at) AS last_seen,
             array_agg(DISTINCT task) AS tasks, array_agg(DISTINCT queue) AS queues
           FROM ${this.schema}.jobs WHERE state = 'failed' AND error_fingerprint IS NOT NULL${only}${scope}
           GROUP BY error_fingerprint ORDER BY count DESC, last_seen DESC, fingerprint LIMIT $1
         )
         SELECT g.*, s.id AS sample_id, s.error AS sample FROM groups g CROSS JOIN LATERAL (
           SELECT id, errors -> -1 AS error FROM ${this.schema}.jobs
           WHERE state = 'failed' AND error_fingerprint = g.fingerprint${scope}
           ORDER BY finished_at DESC, seq DESC LIMIT 1
         ) AS s
         ORDER BY g.count DESC, g.last_seen DESC, g.fingerprint`,
        values,
      )
      return rows.map((row) => ({
        fingerprint: row.fingerprint,
        count: row.count,
        firstSeenAt: row.first_seen,
        lastSeenAt: row.last_seen,
        tasks: [...row.tasks].sort(),
        queues: [...row.queues].sort(),
        sample: {
          jobId: row.sample_id,
          name: row.sample?.name ?? 'Error',
          message: row.sample?.message ?? '',
          ...(row.sample?.stack == null ? {} : { stack: row.sample.stack }),
        },
      }))
    })
  }

  // ─── Worker registry ──────────────────────────────────────────────────────────────────────────

  workerBeat(params: WorkerBeatParams): Promise<void> {
    return this.track(async () => {
      await this.rows(
        this.pool,
        this.text('worker-beat', () => `INSERT INTO ${this.schema}.workers (id, host, pid, queues, concurrency, started_at, last_seen_at)
           VALUES ($2, $3, $4, $5::jsonb, $6, to_timestamp($7::float8 / 1000), ${AT})
           ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
             concurrency = excluded.concurrency, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at`),
        [
          params.now === undefined ? null : new Date(params.now),
          params.id,
          sanitize(params.host),
          params.pid,
          JSON.stringify(params.queues),
          params.concurrency,
          params.startedAt,
        ],
      )
    })
  }

  workerRemove(params: { id: string }): Promise<void> {
    return this.track(async () => {
      await this.rows(this.pool, `DELETE FROM ${this.schema}.workers WHERE id = $1`, [params.id])
    })
  }

  workerList(params: WorkerListParams): Promise<WorkerInfo[]> {
    return this.track(async () => {
      const workers = await this.rows<WorkerRow>(
        this.pool,
        `SELECT * FROM ${this.schema}.workers WHERE last_seen_at >= ${AT} - ${ms('$2')} ORDER BY started_at, id`,
        [params.now === undefined ? null : new Date(params.now), params.aliveMs],
      )
      if (workers.length === 0) return []
      // The state literal matches the leases index's predicate, so the running jobs are read from
      // that small index alone, whatever the plan.
      const jobs = await this.rows<WorkerJobRow>(
        this.pool,
        `SELECT worker_id, id, task, queue, attempt, started_at, progress FROM ${this.schema}.jobs
         WHERE state = 'running' AND worker_id = ANY($1::text[]) ORDER BY started_at, id`,
        [workers.map((worker) => worker.id)],
      )
      return workerInfos(workers, jobs)
    })
  }

  jobDelete(params: { id: string }): Promise<void> {
    return this.track(async () => {
      const row = await this.one<{ deleted: boolean; state: JobState | null }>(
        `WITH victim AS (
           SELECT seq, id, task, key FROM ${this.schema}.jobs WHERE id = $1 AND state IN ${FINISHED_SQL} FOR UPDATE
         ),
         events_gone AS (DELETE FROM ${this.schema}.events WHERE job_seq IN (SELECT seq FROM victim)),
         jobs_gone AS (DELETE FROM ${this.schema}.jobs WHERE seq IN (SELECT seq FROM victim) RETURNING seq, queue, state),
         ${this.countedSql('jobs_gone', 's.state', 'NULL')},
         keys_gone AS (
           DELETE FROM ${this.schema}.keys k USING victim v WHERE v.key IS NOT NULL AND k.task = v.task AND k.key = v.key AND k.job_id = v.id
         )
         SELECT EXISTS (SELECT 1 FROM jobs_gone) AS deleted`,
        [params.id],
      )
      if (!row!.deleted) throw await this.notApplicable(params.id, 'delete')
    })
  }

  private async notApplicable(id: string, action: 'cancel' | 'retry' | 'delete', known?: JobState): Promise<OffloadError> {
    return notApplicableError(id, action, known ?? (await this.one<{ state: JobState }>(`SELECT state FROM ${this.schema}.jobs WHERE id = $1`, [id]))?.state)
  }

  // ─── Maintenance ──────────────────────────────────────────────────────────────────────────────

  jobPromote(params: JobPromoteParams): Promise<number> {
    return this.track(async () => {
      const rows = await this.rows<{ queue: string; count: number }>(
        this.pool,
        `WITH r AS (
           UPDATE ${this.schema}.jobs j SET state = 'queued'
           FROM (SELECT seq, state FROM ${this.schema}.jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= ${AT}
             ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS due
           WHERE j.seq = due.seq
           RETURNING j.seq, j.queue, j.attempt, j.run_at, due.state AS left_state
         ),
         ${this.countedSql('r', 's.left_state', "'queued'")},
         events AS (
           INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
           SELECT r.seq, ${AT}, 'promoted', 'queued', r.attempt FROM r${this.eventGate}
           ORDER BY r.run_at, r.seq
         )
         SELECT queue, count(*)::int AS count FROM r GROUP BY queue`,
        [params.now === undefined ? null : new Date(params.now), params.limit],
      )
      this.after(new NoteSet({ ready: rows.map((row) => row.queue) }))
      return rows.reduce((sum, row) => sum + row.count, 0)
    })
  }

  jobNextDue(): Promise<number | undefined> {
    return this.track(async () => {
      const row = await this.one<{ due: Date | null }>(
        `SELECT min(run_at) AS due FROM ${this.schema}.jobs WHERE state IN ('scheduled', 'retrying')`,
        [],
      )
      return row?.due?.getTime() ?? undefined
    })
  }

  jobRescue(params: JobRescueParams): Promise<number> {
    // A transaction: the jobs failed for good get their fingerprint, hashed here from the error the
    // statement recorded, in a second statement that must commit with the first.
    return this.track(() => this.transaction(async (client) => {
      const rows = await this.rows<{ seq: number; id: string; queue: string; state: JobState; message: string }>(
        client,
        `WITH r AS (
           UPDATE ${this.schema}.jobs SET
             state = CASE WHEN attempt < max_attempts THEN 'queued' ELSE 'failed' END,
             finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE ${AT} END,
             webhook_due = CASE WHEN attempt < max_attempts THEN webhook_due ELSE webhook IS NOT NULL END,
             errors = coalesce(errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', ${EPOCH_MS(AT)},
               'name', 'LeaseExpired', 'message', 'worker ' || coalesce(worker_id, '?') || ' stopped renewing its lease (it died or stalled)')),
             worker_id = NULL, lease_expires_at = NULL
           WHERE seq IN (SELECT seq FROM ${this.schema}.jobs WHERE state = 'running' AND lease_expires_at <= ${AT}
             ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING seq, id, task, queue, state, attempt, key, key_ttl_ms, lease_expires_at, errors -> -1 ->> 'message' AS message
         ),
         ${this.countedSql('r', "'running'", 's.state')},
         events AS (
           INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
           SELECT r.seq, ${AT}, 'rescued', r.state, r.attempt, json_build_object('error', json_build_object('name', 'LeaseExpired', 'message', r.message))
           FROM r${this.eventGate}
           ORDER BY r.seq
         ),
         ${this.releaseKeysSql('r')}
         SELECT seq, id, queue, state, message FROM r`,
        [params.now === undefined ? null : new Date(params.now), params.limit],
      )
      const failed = rows.filter((row) => row.state === 'failed')
      if (failed.length > 0) {
        await this.rows(
          client,
          `UPDATE ${this.schema}.jobs j SET error_fingerprint = f.fingerprint FROM unnest($1::bigint[], $2::text[]) AS f(seq, fingerprint)
           WHERE j.seq = f.seq`,
          [failed.map((row) => row.seq), failed.map((row) => errorFingerprint({ name: 'LeaseExpired', message: row.message }))],
        )
      }
      return rows
    }).then((rows) => {
      this.after(
        new NoteSet({
          ready: rows.filter((row) => row.state === 'queued').map((row) => row.queue),
          finished: rows.filter((row) => row.state === 'failed').map((row) => row.id),
        }),
      )
      return rows.length
    }))
  }

  jobPrune(params: JobPruneParams): Promise<number> {
    return this.track(async () => {
      const older = params.olderThanMs
      const pick = (state: string, param: string): string =>
        `(SELECT seq, id, task, key FROM ${this.schema}.jobs WHERE state = '${state}' AND finished_at <= ${AT} - ${ms(param)} ORDER BY finished_at LIMIT $2)`
      const row = await this.one<{ count: number }>(
        `WITH victims AS (
           SELECT * FROM (${pick('completed', '$3')} UNION ALL ${pick('failed', '$4')} UNION ALL ${pick('cancelled', '$5')}) AS v LIMIT $2
         ),
         events_gone AS (DELETE FROM ${this.schema}.events WHERE job_seq IN (SELECT seq FROM victims)),
         jobs_gone AS (DELETE FROM ${this.schema}.jobs WHERE seq IN (SELECT seq FROM victims) RETURNING seq, queue, state),
         ${this.countedSql('jobs_gone', 's.state', 'NULL')},
         keys_gone AS (
           DELETE FROM ${this.schema}.keys k USING victims v
           WHERE (v.key IS NOT NULL AND k.task = v.task AND k.key = v.key AND k.job_id = v.id)
         ),
         keys_expired AS (DELETE FROM ${this.schema}.keys WHERE expires_at IS NOT NULL AND expires_at <= ${AT}),
         workers_gone AS (DELETE FROM ${this.schema}.workers WHERE last_seen_at <= ${AT} - ${ms('$6')})
         SELECT count(*)::int AS count FROM jobs_gone`,
        [params.now === undefined ? null : new Date(params.now), params.limit, older.completed, older.failed, older.cancelled, WORKER_FORGET_MS],
      )
      await this.flowKeysPrune(params.now === undefined ? null : new Date(params.now))
      return row!.count
    })
  }

  leaderElect(params: LeaderElectParams): Promise<boolean> {
    return this.track(async () => {
      const row = await this.one(
        `INSERT INTO ${this.schema}.leaders (name, owner, expires_at) VALUES ($2, $3, ${AT} + ${ms('$4')})
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE leaders.owner = excluded.owner OR leaders.expires_at <= ${AT}
         RETURNING owner`,
        [params.now === undefined ? null : new Date(params.now), params.name, params.owner, params.ttlMs],
      )
      return row !== undefined
    })
  }

  leaderResign(params: { name: string; owner: string }): Promise<void> {
    return this.track(async () => {
      await this.rows(this.pool, `DELETE FROM ${this.schema}.leaders WHERE name = $1 AND owner = $2`, [params.name, params.owner])
    })
  }

  // ─── Queues ───────────────────────────────────────────────────────────────────────────────────

  queueList(): Promise<QueueInfo[]> {
    return this.track(async () => {
      // One statement, so counts, head ages and paused flags come from one snapshot.
      const rows = await this.rows<{ queue: string; state: JobState | null; count: number; oldest: Date | null; paused: boolean | null }>(
        this.pool,
        this.text('queue-list', () => queueReadSql(this.schema).list),
        [],
      )
      const queues = new Map<string, QueueInfo>()
      for (const row of rows) {
        let info = queues.get(row.queue)
        if (info === undefined) {
          info = { queue: row.queue, paused: false, counts: Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number> }
          queues.set(row.queue, info)
        }
        if (row.paused !== null) info.paused = row.paused
        if (row.state !== null) info.counts[row.state] = row.count
        if (row.state === 'queued' && row.oldest !== null) info.oldestQueuedAt = row.oldest
      }
      return [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0))
    })
  }

  queueCountsCompact(params: QueueCountsCompactParams): Promise<number> {
    return this.track(async () => {
      // SKIP LOCKED: two leaders overlapping for a moment fold different rows rather than wait.
      const row = await this.one<{ folded: number }>(
        this.text('counts-fold', () => `WITH folded AS (
             DELETE FROM ${this.schema}.queue_count_deltas
             WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${this.schema}.queue_count_deltas LIMIT $1 FOR UPDATE SKIP LOCKED))
             RETURNING queue, state, delta
           ),
           sums AS (SELECT queue, state, sum(delta) AS delta, count(*) AS rows FROM folded GROUP BY queue, state),
           added AS (
             INSERT INTO ${this.schema}.queue_counts AS c (queue, state, n) SELECT queue, state, delta FROM sums
             ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n
           )
           SELECT coalesce(sum(rows), 0)::bigint AS folded FROM sums`),
        [params.limit],
      )
      // Queues whose jobs are all gone leave the totals: in a statement of its own, since one
      // statement cannot add to a row and then delete it.
      await this.rows(this.pool, this.text('counts-zero', () => `DELETE FROM ${this.schema}.queue_counts WHERE n = 0`), [])
      return row!.folded
    })
  }

  queuePause(params: QueuePauseParams): Promise<void> {
    return this.track(async () => {
      // Pausing a paused queue keeps the time it was first paused.
      await this.rows(
        this.pool,
        `INSERT INTO ${this.schema}.queues (name, paused, paused_at) VALUES ($2, true, ${AT})
         ON CONFLICT (name) DO UPDATE SET paused = true, paused_at = excluded.paused_at WHERE NOT queues.paused`,
        [params.now === undefined ? null : new Date(params.now), params.queue],
      )
    })
  }

  queueResume(params: QueuePauseParams): Promise<void> {
    return this.track(async () => {
      await this.rows(this.pool, `UPDATE ${this.schema}.queues SET paused = false, paused_at = NULL WHERE name = $1 AND paused`, [params.queue])
      // Workers idle on this queue, here and in other processes, claim again now rather than at their next poll.
      this.after(new NoteSet({ ready: [params.queue] }))
    })
  }

  // ─── Webhooks ─────────────────────────────────────────────────────────────────────────────────

  jobWebhookDispatch(params: JobWebhookDispatchParams): Promise<number> {
    return this.track(async () => {
      if (params.limit <= 0) return 0
      const delivery = params.delivery
      // The maintenance leader calls this after every finish it hears of, mostly to find nothing:
      // a look at the partial index answers that, and says how many ids the dispatch needs (made
      // here, where every id is made). Jobs marked after the look wait for the next call.
      const due = (await this.one<{ count: number }>(
        this.text('webhook-due', () => `SELECT count(*)::int AS count FROM (
             SELECT FROM ${this.schema}.jobs WHERE webhook_due ORDER BY finished_at, seq LIMIT $1
           ) AS due`),
        [params.limit],
      ))!.count
      if (due === 0) return 0
      const row = await this.one<{ count: number }>(
        this.text('webhook-dispatch', () => this.webhookDispatchSql()),
        [
          params.now === undefined ? null : new Date(params.now),
          Array.from({ length: due }, () => uuidv7()),
          delivery.task,
          delivery.queue,
          delivery.maxAttempts,
          delivery.timeoutMs ?? null,
          delivery.backoff === undefined ? null : JSON.stringify(delivery.backoff),
        ],
      )
      if (row!.count > 0) this.after(new NoteSet({ ready: [delivery.queue] }))
      return row!.count
    })
  }

  /**
   * One statement, so it is all or nothing: the marks it clears and the delivery jobs it creates
   * commit together. It takes a job per id in `$2`. Rows another dispatcher holds are skipped, and
   * a row it cleared meanwhile is re-checked after the lock and dropped, so two dispatchers never
   * announce one finish twice.
   */
  private webhookDispatchSql(): string {
    return `WITH taken AS MATERIALIZED (
         SELECT seq, id, webhook, state, attempt, finished_at FROM ${this.schema}.jobs
         WHERE webhook_due ORDER BY finished_at, seq LIMIT cardinality($2::text[])
         FOR UPDATE SKIP LOCKED
       ),
       cleared AS (UPDATE ${this.schema}.jobs j SET webhook_due = false FROM taken WHERE j.seq = taken.seq),
       created AS (
         INSERT INTO ${this.schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, timeout_ms, backoff, payload, created_at)
         SELECT ($2::text[])[t.ord], $3::text, $4::text, 'queued', 0, ${AT}, $5::int, $6::bigint, $7::json,
           json_build_object('jobId', t.id, 'url', t.webhook, 'state', t.state, 'attempt', t.attempt, 'finishedAt', ${ISO('t.finished_at')}),
           ${AT}
         FROM (SELECT *, row_number() OVER (ORDER BY finished_at, seq) AS ord FROM taken) AS t
         ORDER BY t.ord
         RETURNING seq, queue, state
       ),
       ${this.countedSql('created', 'NULL', 's.state')},
       events AS (
         INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt)
         SELECT seq, ${AT}, 'enqueued', 'queued', 0 FROM created${this.eventGate}
         ORDER BY seq
       )
       SELECT count(*)::int AS count FROM created`
  }

  eventAppend(params: EventAppendParams): Promise<boolean> {
    return this.track(async () => {
      // The job's row is locked as every other writer of its events locks it, so its timeline
      // commits in seq order (see eventList).
      const row = await this.one<{ id: string }>(
        `WITH j AS (SELECT seq, id, state, attempt FROM ${this.schema}.jobs WHERE id = $2 FOR NO KEY UPDATE),
         appended AS (
           INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
           SELECT j.seq, ${AT}, $3::text, j.state, j.attempt, $4::json FROM j${this.eventGate}
         )
         SELECT id FROM j`,
        [params.now === undefined ? null : new Date(params.now), params.jobId, params.type, JSON.stringify(params.data)],
      )
      if (row === undefined) return false
      // Followers of the job read its timeline again, as they do when a handler logs.
      this.after(new NoteSet({ progress: [row.id] }))
      return true
    })
  }

  // ─── Copy between stores ──────────────────────────────────────────────────────────────────────

  jobExport(params: JobExportParams): Promise<JobRecord[]> {
    return this.track(async () => {
      // One statement, so a job and its timeline come from one snapshot even while a worker
      // finishes the job meanwhile.
      const rows = await this.rows<JobRow & { timeline: (Omit<JobRecordEvent, 'at'> & { at: number })[] | null }>(
        this.pool,
        `SELECT j.*, (
           SELECT json_agg(json_build_object('at', ${EPOCH_MS('e.at')}, 'type', e.type, 'state', e.state, 'attempt', e.attempt,
             'data', e.data) ORDER BY e.seq)
           FROM ${this.schema}.events e WHERE e.job_seq = j.seq
         ) AS timeline
         FROM ${this.schema}.jobs j WHERE j.id > $1 ORDER BY j.id LIMIT $2`,
        [params.after ?? '', params.limit],
      )
      return rows.map((row) => {
        const record: JobRecord = {
          job: toJobInfo(row),
          events: (row.timeline ?? []).map((event) => {
            const copy: JobRecordEvent = { at: new Date(event.at), type: event.type, state: event.state, attempt: event.attempt }
            if (event.data != null) copy.data = event.data
            return copy
          }),
        }
        if (row.key_ttl_ms !== null) record.keyTtlMs = row.key_ttl_ms
        return record
      })
    })
  }

  jobImport(params: JobImportParams): Promise<JobImportResult> {
    return this.track(async () => {
      const result: JobImportResult = { imported: 0, skipped: 0, keyConflicts: [] }
      if (params.records.length === 0) return result
      const at = params.now === undefined ? null : new Date(params.now)
      const jobs = params.records.map(({ job }) => job)
      // No worker of this store holds a job that was running in the source: it is handed back as
      // a shutdown would hand it back, so it runs again here without losing an attempt.
      const running = (job: JobInfo): boolean => job.state === 'running'
      const notes = new NoteSet()
      await this.transaction(async (client) => {
        // A grouped job that is still to run joins its group's turn here, after the group's jobs
        // already in this store.
        const ranks = await this.groupRanks(client, jobs.map((job) => (isFinished(job.state) ? { queue: job.queue } : job)))
        // ON CONFLICT: a job already here (an earlier run of the copy) is left exactly as it is. No
        // imported job is owed a webhook: the source announced its finish, or still owes it.
        const inserted = await this.rows<{ seq: number; id: string; state: JobState; queue: string; run_at: Date }>(
          client,
          `WITH inserted AS (
           INSERT INTO ${this.schema}.jobs (id, task, queue, state, priority, run_at, attempt, max_attempts, timeout_ms, backoff, key,
             key_ttl_ms, payload, metadata, result, progress, errors, created_at, started_at, finished_at, webhook, error_fingerprint,
             group_key, group_rank)
           SELECT id, task, queue, state, priority, run_at, attempt, max_attempts, timeout_ms, backoff::json, key, key_ttl_ms,
             payload::json, metadata::json, result::json, progress::json, errors::jsonb, created_at, started_at, finished_at, webhook,
             error_fingerprint, group_key, group_rank
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::int[], $8::int[], $9::bigint[],
             $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::timestamptz[],
             $19::timestamptz[], $20::timestamptz[], $21::text[], $22::text[], $23::text[], $24::bigint[]) WITH ORDINALITY
             AS i(id, task, queue, state, priority, run_at, attempt, max_attempts, timeout_ms, backoff, key, key_ttl_ms, payload,
               metadata, result, progress, errors, created_at, started_at, finished_at, webhook, error_fingerprint, group_key, group_rank, ord)
           ORDER BY ord
           ON CONFLICT (id) DO NOTHING
           RETURNING seq, id, state, queue, run_at
         ),
         ${this.countedSql('inserted', 'NULL', 's.state')}
         SELECT * FROM inserted`,
          [
            jobs.map((job) => job.id),
            jobs.map((job) => job.task),
            jobs.map((job) => job.queue),
            jobs.map((job) => (running(job) ? 'queued' : job.state)),
            jobs.map((job) => job.priority),
            jobs.map((job) => job.runAt),
            jobs.map((job) => (running(job) ? job.attempt - 1 : job.attempt)),
            jobs.map((job) => job.maxAttempts),
            jobs.map((job) => job.timeoutMs ?? null),
            jobs.map((job) => (job.backoff === undefined ? null : JSON.stringify(job.backoff))),
            jobs.map((job) => (job.key === undefined ? null : sanitize(job.key))),
            params.records.map((record) => record.keyTtlMs ?? null),
            jobs.map((job) => JSON.stringify(job.payload)),
            jobs.map((job) => (Object.keys(job.metadata).length === 0 ? null : JSON.stringify(job.metadata))),
            jobs.map((job) => (job.result === undefined ? null : JSON.stringify(job.result))),
            jobs.map((job) => (job.progress === undefined ? null : JSON.stringify(job.progress))),
            jobs.map((job) => (job.errors.length === 0 ? null : JSON.stringify(job.errors.map(storedError)))),
            jobs.map((job) => job.createdAt),
            jobs.map((job) => job.startedAt ?? null),
            jobs.map((job) => job.finishedAt ?? null),
            jobs.map((job) => (job.webhook === undefined ? null : sanitize(job.webhook))),
            // Of the errors as stored here (sanitised), as every other failure of this store is.
            jobs.map((job) => (job.state === 'failed' ? failureFingerprint(job.errors.map(storedError)) : null)),
            jobs.map((job) => (job.group === undefined ? null : sanitize(job.group))),
            ranks.map((rank) => rank ?? null),
          ],
        )
        const seqOf = new Map(inserted.map((row) => [row.id, row.seq]))
        result.imported = inserted.length
        result.skipped = params.records.length - inserted.length
        for (const row of inserted) {
          if (row.state === 'queued') notes.ready.add(row.queue)
          else if (row.state === 'scheduled' || row.state === 'retrying') notes.due = Math.min(notes.due, row.run_at.getTime())
        }
        const imported = params.records.filter((record) => seqOf.has(record.job.id))
        result.keyConflicts = await this.importKeys(client, imported, at)
        // A running job's released event happens now, by this store's clock: its time is NULL here.
        const events: { seq: number; at: Date | null; type: JobEventType; state: JobState; attempt: number; data: string | null }[] = []
        for (const record of imported) {
          const seq = seqOf.get(record.job.id)!
          for (const event of record.events) {
            events.push({ seq, ...event, data: event.data === undefined ? null : JSON.stringify(event.data) })
          }
          if (running(record.job)) events.push({ seq, at: null, type: 'released', state: 'queued', attempt: record.job.attempt - 1, data: null })
        }
        if (events.length === 0) return
        await client.query(
          `INSERT INTO ${this.schema}.events (job_seq, at, type, state, attempt, data)
           SELECT seq, coalesce(at, ${AT}), type, state, attempt, data::json
           FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::int[], $7::text[]) WITH ORDINALITY
             AS e(seq, at, type, state, attempt, data, ord)${this.eventGate}
           ORDER BY ord`,
          [
            at,
            events.map((e) => e.seq),
            events.map((e) => e.at),
            events.map((e) => e.type),
            events.map((e) => e.state),
            events.map((e) => e.attempt),
            events.map((e) => e.data),
          ],
        )
      })
      this.after(notes)
      return result
    })
  }

  /**
   * Holds imported jobs' keys as the source held them: unfinished jobs' until they finish, finished
   * jobs' until `finishedAt + keyTtlMs` if that is still ahead. Returns the ids whose key another
   * job already holds here: they were imported without it.
   */
  private async importKeys(client: Queryable, records: readonly JobRecord[], at: Date | null): Promise<string[]> {
    const seen = new Set<string>()
    const conflicts: string[] = []
    const holders = records.filter(({ job, keyTtlMs }) => {
      if (job.key === undefined) return false
      if (isFinished(job.state) && (job.finishedAt === undefined || keyTtlMs === undefined || keyTtlMs <= 0)) return false
      const name = `${job.task}\u0000${sanitize(job.key)}`
      if (!seen.has(name)) return seen.add(name)
      conflicts.push(job.id)
      return false
    })
    if (holders.length === 0) return conflicts
    // A finished job whose hold lapsed holds nothing, so it cannot conflict either.
    const refused = await this.rows<{ job_id: string }>(
      client,
      `WITH wanted AS (
         SELECT task, key, job_id, CASE WHEN finished_at IS NULL THEN NULL ELSE finished_at + ${ms('ttl')} END AS expires_at
         FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::float8[]) AS w(task, key, job_id, finished_at, ttl)
       ),
       live AS (SELECT * FROM wanted WHERE expires_at IS NULL OR expires_at > ${AT}),
       taken AS (
         INSERT INTO ${this.schema}.keys (task, key, job_id, expires_at) SELECT task, key, job_id, expires_at FROM live
         ON CONFLICT (task, key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at
           WHERE keys.expires_at IS NOT NULL AND keys.expires_at <= ${AT}
         RETURNING job_id
       )
       SELECT job_id FROM live WHERE job_id NOT IN (SELECT job_id FROM taken)`,
      [
        at,
        holders.map(({ job }) => job.task),
        holders.map(({ job }) => sanitize(job.key!)),
        holders.map(({ job }) => job.id),
        holders.map(({ job }) => (isFinished(job.state) ? job.finishedAt! : null)),
        holders.map(({ keyTtlMs }) => keyTtlMs ?? 0),
      ],
    )
    conflicts.push(...refused.map((row) => row.job_id))
    return conflicts
  }

  // ─── Debounce and throttle ────────────────────────────────────────────────────────────────────
  //
  // Each takes its key's row first with INSERT … ON CONFLICT DO UPDATE, which creates it for this
  // call's job or locks the one there: producers of one key, in any process, take turns from that
  // statement to their commit, so there is no look-then-insert race. The key rows see one write per
  // enqueue; they are few and small, and jobPrune deletes the stale ones.

  jobDebounce(params: JobDebounceParams): Promise<JobInsertResult> {
    const { job } = params
    const created = { ...job, runAt: undefined, delayMs: params.delayMs }
    return this.keyedInsert(params, 'debounces', params.delayMs, created, undefined, async (client, held, at, key) => {
      // The job the key names takes the new values if it is still waiting for its first run.
      const [updated] = await this.rows<{ id: string }>(
        client,
        this.text('debounce-update', () => `WITH updated AS (
             UPDATE ${this.schema}.jobs SET payload = $3::json, metadata = $4::json, priority = $5, max_attempts = $6, timeout_ms = $7,
               backoff = $8::json, webhook = $9,
               run_at = greatest(run_at, least(${AT} + ${ms('$10')}, coalesce(created_at + ${ms('$11')}, 'infinity')))
             WHERE id = $2 AND state = 'scheduled' AND started_at IS NULL AND run_at > ${AT}
             RETURNING id, run_at
           ),
           moved AS (
             UPDATE ${this.schema}.debounces d SET run_at = u.run_at FROM updated u WHERE d.task = $12 AND d.key = $13
           )
           SELECT id FROM updated`),
        [
          at, held.jobId, job.payload, job.metadata ?? null, job.priority, job.maxAttempts, job.timeoutMs ?? null,
          job.backoff === undefined ? null : JSON.stringify(job.backoff), job.webhook === undefined ? null : sanitize(job.webhook),
          params.delayMs, params.maxWaitMs ?? null, job.task, key,
        ],
      )
      return updated === undefined ? undefined : { id: updated.id, state: 'scheduled', existing: true }
    })
  }

  jobThrottle(params: JobThrottleParams): Promise<JobInsertResult> {
    return this.keyedInsert(params, 'throttles', params.windowMs, params.job, params.maxQueued, async (client, held) => {
      // A window whose job was deleted holds nothing: a new one starts.
      if (!held.open) return undefined
      const [holder] = await this.rows<{ id: string; state: JobState }>(client, `SELECT id, state FROM ${this.schema}.jobs WHERE id = $1`, [held.jobId])
      return holder === undefined ? undefined : { ...holder, existing: true }
    })
  }

  /**
   * One debounce or throttle, in a transaction: takes the key's row in `table` (created for `job`,
   * its time `spanMs` from now, or locked as it is); when it names another job, asks `holder` for
   * that job's answer, and if there is none points the row at `job`; then creates `job`.
   */
  private keyedInsert(
    params: { job: JobInsert; key: string; now?: number },
    table: 'debounces' | 'throttles',
    spanMs: number,
    job: JobInsert,
    caps: ReadonlyMap<string, number> | undefined,
    holder: (client: Queryable, held: { jobId: string; open: boolean }, at: Date | null, key: string) => Promise<JobInsertResult | undefined>,
  ): Promise<JobInsertResult> {
    const column = table === 'debounces' ? 'run_at' : 'until'
    return this.track(async () => {
      const at = params.now === undefined ? null : new Date(params.now)
      const key = sanitize(params.key)
      const values = [at, job.task, key, job.id, spanMs]
      const notes = new NoteSet()
      const result = await this.transaction(async (client): Promise<JobInsertResult> => {
        const [row] = await this.rows<{ job_id: string; open: boolean }>(
          client,
          `INSERT INTO ${this.schema}.${table} (task, key, job_id, ${column}) VALUES ($2, $3, $4, ${AT} + ${ms('$5')})
           ON CONFLICT (task, key) DO UPDATE SET task = excluded.task
           RETURNING job_id, ${column} > ${AT} AS open`,
          values,
        )
        if (row!.job_id !== job.id) {
          const answer = await holder(client, { jobId: row!.job_id, open: row!.open }, at, key)
          if (answer !== undefined) return answer
          await this.rows(client, `UPDATE ${this.schema}.${table} SET job_id = $4, ${column} = ${AT} + ${ms('$5')} WHERE task = $2 AND key = $3`, values)
        }
        if (caps !== undefined && caps.has(job.queue)) await this.checkQueueCaps(client, [job], caps, at)
        const [rank] = job.group === undefined ? [undefined] : await this.groupRanks(client, [job])
        const ranked: RankedInsert = rank === undefined ? job : { ...job, rank }
        const [created] = await this.insertJobs(client, [ranked], at, notes, false)
        return { ...created!, existing: false }
      })
      // After commit, as insertMany: this process's listeners now, other processes through the sender.
      this.emit(notes.toNotes())
      this.sender.send(notes, true)
      return result
    })
  }

  /** Forgets debounce keys whose job is due (it no longer takes updates) and throttle windows that ended. */
  private async flowKeysPrune(at: Date | null): Promise<void> {
    await this.rows(
      this.pool,
      `WITH debounces_gone AS (DELETE FROM ${this.schema}.debounces WHERE run_at <= ${AT})
       DELETE FROM ${this.schema}.throttles WHERE until <= ${AT}`,
      [at],
    )
  }

  // ─── Schedules ────────────────────────────────────────────────────────────────────────────────

  scheduleUpsert(params: ScheduleUpsertParams): Promise<ScheduleInfo> {
    return this.track(async () => {
      // SET expressions read the row as it was. updated_at moves only when the definition does, so
      // every process declaring the same schedule at start leaves it as it was.
      const row = await this.one<ScheduleRow>(
        `INSERT INTO ${this.schema}.schedules AS s (name, task, queue, cron, timezone, payload, job, catch_up, paused, source,
           next_run_at, created_at, updated_at)
         VALUES ($2, $3, $4, $5, $6, $7, $8, $9, coalesce($10::boolean, false), $11, $12::timestamptz, ${AT}, ${AT})
         ON CONFLICT (name) DO UPDATE SET task = excluded.task, queue = excluded.queue, cron = excluded.cron, timezone = excluded.timezone,
           payload = excluded.payload, job = excluded.job, catch_up = excluded.catch_up, source = excluded.source,
           paused = coalesce($10::boolean, s.paused),
           next_run_at = CASE WHEN s.cron <> excluded.cron OR s.timezone <> excluded.timezone OR (s.paused AND NOT coalesce($10::boolean, true))
             THEN excluded.next_run_at ELSE s.next_run_at END,
           updated_at = CASE WHEN (s.task, s.queue, s.cron, s.timezone, s.payload, s.job, s.catch_up, s.source, s.paused)
             IS DISTINCT FROM (excluded.task, excluded.queue, excluded.cron, excluded.timezone, excluded.payload, excluded.job, excluded.catch_up,
               excluded.source, coalesce($10::boolean, s.paused))
             THEN excluded.updated_at ELSE s.updated_at END
         RETURNING *`,
        [
          params.now === undefined ? null : new Date(params.now),
          params.name,
          params.task,
          params.queue,
          params.cron,
          params.timezone,
          params.payload,
          JSON.stringify(params.job),
          params.catchUp,
          params.paused ?? null,
          params.source,
          params.nextRunAt === null ? null : new Date(params.nextRunAt),
        ],
      )
      return toScheduleInfo(row!)
    })
  }

  scheduleGet(params: { name: string }): Promise<ScheduleInfo | undefined> {
    return this.track(async () => {
      const row = await this.one<ScheduleRow>(`SELECT * FROM ${this.schema}.schedules WHERE name = $1`, [params.name])
      return row === undefined ? undefined : toScheduleInfo(row)
    })
  }

  scheduleList(): Promise<ScheduleInfo[]> {
    return this.track(async () =>
      (await this.rows<ScheduleRow>(this.pool, `SELECT * FROM ${this.schema}.schedules ORDER BY name COLLATE "C"`, [])).map(toScheduleInfo),
    )
  }

  scheduleDelete(params: { name: string }): Promise<boolean> {
    return this.track(async () => (await this.rows(this.pool, `DELETE FROM ${this.schema}.schedules WHERE name = $1 RETURNING 1`, [params.name])).length === 1)
  }

  scheduleTick(params: ScheduleTickParams): Promise<boolean> {
    return this.track(async () => {
      const at = params.now === undefined ? null : new Date(params.now)
      const notes = new NoteSet()
      const won = await this.transaction(async (client) => {
        // A concurrent tick of the same schedule waits for this row's lock, then re-reads the row
        // and finds next_run_at moved: it updates nothing and inserts nothing.
        const moved = await this.rows(
          client,
          `UPDATE ${this.schema}.schedules SET next_run_at = $2::timestamptz, last_run_at = coalesce($3::timestamptz, last_run_at)
           WHERE name = $1 AND next_run_at = $4::timestamptz AND NOT paused RETURNING 1`,
          [
            params.name,
            params.next === null ? null : new Date(params.next),
            params.ticks.length === 0 ? null : new Date(Math.max(...params.ticks)),
            new Date(params.due),
          ],
        )
        if (moved.length === 0) return false
        await this.insertJobs(client, params.jobs, at, notes, false)
        return true
      })
      if (won) {
        // As jobInsertMany tells after its commit: this process's listeners, and what the insert skipped.
        this.emit(notes.toNotes())
        this.sender.send(notes, true)
      }
      return won
    })
  }

  // ─── Circuit breakers ─────────────────────────────────────────────────────────────────────────

  breakerRecord(params: BreakerRecordParams): Promise<BreakerTransition[]> {
    return this.track(() =>
      this.transaction(async (client) => {
        const at = await this.breakerNow(client, params.now)
        const keys = breakers.lockKeys(params.outcomes, params.settings)
        if (keys.length === 0) return []
        const rows = await this.breakerLock(client, keys)
        const { transitions, changed } = breakers.recordRows(rows, params.outcomes, params.settings, at)
        for (const row of changed) await this.breakerSave(client, row)
        return transitions
      }),
    )
  }

  breakerProbe(params: BreakerProbeParams): Promise<BreakerAdmission> {
    return this.track(() =>
      this.transaction(async (client) => {
        const at = await this.breakerNow(client, params.now)
        const key = { task: params.task, group: params.group ?? '' }
        const row = (await this.breakerLock(client, [key], false)).get(breakers.keyOf(key.task, key.group))
        const { admission } = breakers.admit(row, at)
        if (row !== undefined && admission !== 'closed') await this.breakerSave(client, row)
        return admission
      }),
    )
  }

  breakerList(params: BreakerListParams): Promise<BreakerInfo[]> {
    return this.track(async () => {
      const at = await this.breakerNow(this.pool, params.now)
      const rows = (await this.rows<breakers.StoredBreaker>(this.pool, `SELECT * FROM ${this.schema}.breakers`, [])).map(breakers.fromStored)
      return rows.sort(breakers.order).map((row) => breakers.info(row, at))
    })
  }

  breakerReset(params: BreakerResetParams): Promise<number> {
    return this.track(() =>
      this.transaction(async (client) => {
        const at = await this.breakerNow(client, params.now)
        const stored = await this.rows<breakers.StoredBreaker>(
          client,
          `SELECT * FROM ${this.schema}.breakers WHERE task = $1 AND ($2::text IS NULL OR grp = $2) ORDER BY task, grp FOR UPDATE`,
          [params.task, params.group ?? null],
        )
        for (const row of stored.map(breakers.fromStored)) {
          breakers.resetRow(row, at)
          await this.breakerSave(client, row)
        }
        return stored.length
      }),
    )
  }

  /** The transaction's time: the caller's `now`, else the database's. */
  private async breakerNow(client: Queryable, now: number | undefined): Promise<number> {
    const row = await this.one<{ now: Date }>(`SELECT ${AT} AS now`, [now === undefined ? null : new Date(now)], client)
    return row!.now.getTime()
  }

  /**
   * Locks the breakers of `keys` (sorted: concurrent writers lock in one order) and returns the
   * ones that exist. With `create`, missing ones are inserted first — closed and empty, to be
   * overwritten — so two writers recording a new breaker's first outcomes queue on one row rather
   * than both inserting it.
   */
  private async breakerLock(client: Queryable, keys: { task: string; group: string }[], create = true): Promise<Map<string, breakers.BreakerRow>> {
    const lock = async (): Promise<Map<string, breakers.BreakerRow>> => {
      const stored = await this.rows<breakers.StoredBreaker>(
        client,
        `SELECT b.* FROM ${this.schema}.breakers b JOIN unnest($1::text[], $2::text[]) AS k(task, grp) ON b.task = k.task AND b.grp = k.grp
         ORDER BY b.task, b.grp FOR UPDATE OF b`,
        [keys.map((key) => key.task), keys.map((key) => key.group)],
      )
      return new Map(stored.map((row) => [breakers.keyOf(row.task as string, row.grp as string), breakers.fromStored(row)]))
    }
    const rows = await lock()
    if (!create || rows.size === keys.length) return rows
    const missing = keys.filter((key) => !rows.has(breakers.keyOf(key.task, key.group)))
    // Placeholders, told apart by window_ms = 0 (no breaker has an empty window); this
    // transaction overwrites each one it inserted, so none outlives it.
    await this.rows(
      client,
      `INSERT INTO ${this.schema}.breakers (task, grp, state, window_start, total, failed, prev_total, prev_failed, probes_in_flight,
         threshold, min_volume, window_ms, cooldown_ms, probes, opened, half_opened, closed, updated_at)
       SELECT k.task, k.grp, 'closed', now(), 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, now() FROM unnest($1::text[], $2::text[]) AS k(task, grp)
       ORDER BY k.task, k.grp
       ON CONFLICT (task, grp) DO NOTHING`,
      [missing.map((key) => key.task), missing.map((key) => key.group)],
    )
    // A row another writer created meanwhile is read as it stands; our placeholders as missing.
    const locked = await lock()
    for (const [key, row] of locked) if (row.settings.windowMs === 0) locked.delete(key)
    return locked
  }

  private async breakerSave(client: Queryable, row: breakers.BreakerRow): Promise<void> {
    const columns = breakers.COLUMNS.join(', ')
    const updates = breakers.COLUMNS.slice(2).map((column) => `${column} = excluded.${column}`).join(', ')
    await this.rows(
      client,
      this.text('breaker-save', () => `INSERT INTO ${this.schema}.breakers (${columns}) VALUES (${breakers.COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
         ON CONFLICT (task, grp) DO UPDATE SET ${updates}`),
      breakers.values(row, (ms) => (ms === null ? null : new Date(ms))),
    )
  }

  // ─── Internals ────────────────────────────────────────────────────────────────────────────────

  /** Runs `op` unless closed, and lets `close()` wait for it. Every public method goes through here. */
  private track<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new OffloadError('CLOSED', 'the store is closed'))
    const promise = op().catch((error: unknown) => {
      throw pgError(error, this.description)
    })
    this.inFlight.add(promise)
    const untrack = (): void => void this.inFlight.delete(promise)
    promise.then(untrack, untrack)
    return promise
  }

  private async rows<R>(client: Queryable, text: string, values: unknown[]): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await client.query({ name: this.statementName(text), text, values })
        return result.rows as R[]
      } catch (error) {
        // A deadlock or serialization failure rolled the statement back whole: run it again, if
        // it runs alone (inside a transaction the caller must start over, so it goes up).
        if (client === this.pool && isTransient(error) && attempt < 5) continue
        throw error
      }
    }
  }

  private async one<R>(text: string, values: unknown[], client: Queryable = this.pool): Promise<R | undefined> {
    return (await this.rows<R>(client, text, values))[0]
  }

  /**
   * A hot statement's text, built once per store: every call then passes the very same string, so
   * naming it (`statementName`) hashes a few characters of `purpose` rather than kilobytes of SQL.
   */
  private text(purpose: string, build: () => string): string {
    let text = this.texts.get(purpose)
    if (text === undefined) {
      text = build()
      this.texts.set(purpose, text)
    }
    return text
  }

  /** Prepared statements, named by their text: each is parsed once per connection. */
  private statementName(text: string): string {
    let name = this.statementNames.get(text)
    if (name === undefined) {
      name = `offload_${this.statementNames.size + 1}`
      this.statementNames.set(text, name)
    }
    return name
  }

  /**
   * A connection of the pool's own until `release`. The pool listens for errors only on idle
   * connections: one the server ends between two statements (pg_terminate_backend, a restart)
   * emits 'error' with no query to fail, and with no listener that would crash the process. Noted
   * here instead: the next statement fails with STORE_UNAVAILABLE, and the connection is discarded
   * on release rather than pooled — as it is when `release` is given an error.
   */
  private async checkout(): Promise<{ client: pg.PoolClient; release: (error?: Error) => void }> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    const lost = (error: Error): void => void (broken ??= error)
    client.on('error', lost)
    return {
      client,
      release: (error) => {
        client.off('error', lost)
        client.release(broken ?? error)
      },
    }
  }

  /** Runs `fn` in a transaction, retried on deadlock or serialization failure. */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { client, release } = await this.checkout()
      let broken: Error | undefined
      try {
        await client.query('BEGIN')
        const result = await fn(client)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError as Error))
        if (isTransient(error) && attempt < 5) continue
        throw error
      } finally {
        release(broken)
      }
    }
  }

  /** Tells this process's listeners now, and other processes through the sender. */
  private after(notes: NoteSet, alreadySent = false): void {
    this.emit(notes.toNotes())
    if (!alreadySent) this.sender.send(notes)
  }

  private heard(payload: string): void {
    const [origin, kind, rest = ''] = splitPayload(payload)
    if (origin === this.origin) return
    const ids = (): string[] => rest.split(',')
    switch (kind) {
      case 'r':
        return this.emit([{ kind: 'ready', queue: rest }])
      case 'd':
        return this.emit([{ kind: 'due', runAt: Number(rest) }])
      case 'f':
        return this.emit([{ kind: 'finished', ids: ids() }])
      case 'c':
        return this.emit([{ kind: 'cancelled', ids: ids() }, { kind: 'finished', ids: ids() }])
      case 'p':
        return this.emit([{ kind: 'progress', ids: ids() }])
      default:
        return this.emit([{ kind: 'changed' }])
    }
  }

  private emit(notes: StoreNote[]): void {
    for (const listener of this.listeners) {
      for (const note of notes) listener(note)
    }
  }
}

/**
 * What `jobCounts` (`counts`) and `queueList` (`list`) read in `schema`, none of it in proportion to
 * the jobs: each count is its folded total plus the deltas not yet folded; and for each queue with
 * queued jobs, the run time of its oldest one. The ready index orders run times only within a
 * priority, so that is a skip-scan: a seek for the queue's highest priority, one for each next lower
 * one, and one per priority for its earliest run time — a few seeks per queue, whether it holds ten
 * jobs or ten million. Exported for the plan test.
 */
export function queueReadSql(schema: string): { counts: string; list: string } {
  const counts = `SELECT queue, state, sum(n)::bigint AS count FROM (
      SELECT queue, state, n FROM ${schema}.queue_counts
      UNION ALL
      SELECT queue, state, delta FROM ${schema}.queue_count_deltas
    ) AS c GROUP BY queue, state HAVING sum(n) > 0`
  return {
    counts: `${counts} ORDER BY queue, state`,
    list: `WITH RECURSIVE counts AS (${counts}),
      heads (queue, priority) AS (
        SELECT c.queue, (SELECT j.priority FROM ${schema}.jobs j WHERE j.state = 'queued' AND j.queue = c.queue ORDER BY j.priority DESC LIMIT 1)
        FROM counts c WHERE c.state = 'queued'
        UNION ALL
        SELECT h.queue, (SELECT j.priority FROM ${schema}.jobs j WHERE j.state = 'queued' AND j.queue = h.queue AND j.priority < h.priority
          ORDER BY j.priority DESC LIMIT 1)
        FROM heads h WHERE h.priority IS NOT NULL
      ),
      oldest AS (
        SELECT h.queue, min((SELECT j.run_at FROM ${schema}.jobs j WHERE j.state = 'queued' AND j.queue = h.queue AND j.priority = h.priority
          ORDER BY j.group_rank NULLS FIRST, j.run_at LIMIT 1)) AS at
        FROM heads h WHERE h.priority IS NOT NULL GROUP BY h.queue
      )
      SELECT c.queue, c.state, c.count, o.at AS oldest, NULL::boolean AS paused
      FROM counts c LEFT JOIN oldest o ON c.state = 'queued' AND o.queue = c.queue
      UNION ALL
      SELECT name, NULL, 0, NULL, paused FROM ${schema}.queues`,
  }
}

/** The notes one write produces. */
class NoteSet {
  ready: Set<string>
  /** Ready queues already notified inside the transaction: the sender skips them. */
  readySent = new Set<string>()
  due: number
  finished: string[]
  cancelled: string[]
  progress: string[]

  constructor(init: { ready?: string[]; due?: number; finished?: string[]; cancelled?: string[]; progress?: string[] } = {}) {
    this.ready = new Set(init.ready)
    this.due = init.due ?? Infinity
    this.finished = init.finished ?? []
    this.cancelled = init.cancelled ?? []
    this.progress = init.progress ?? []
  }

  toNotes(): StoreNote[] {
    const notes: StoreNote[] = []
    for (const queue of this.ready) notes.push({ kind: 'ready', queue })
    if (this.due !== Infinity) notes.push({ kind: 'due', runAt: this.due })
    if (this.finished.length > 0) notes.push({ kind: 'finished', ids: this.finished })
    if (this.cancelled.length > 0) notes.push({ kind: 'cancelled', ids: this.cancelled })
    if (this.progress.length > 0) notes.push({ kind: 'progress', ids: this.progress })
    return notes
  }
}

/** NOTIFY payloads are limited to 8000 bytes; ids beyond this go as "something changed". */
const MAX_IDS_PER_PAYLOAD = 150

/**
 * Sends notes to other processes after commit, coalesced: what arrives within `debounceMs` of a
 * send goes out together at the end of that window, as one statement. Hints may be late; the
 * window bounds how late, and under load it turns thousands of NOTIFYs into a few hundred a second.
 *
 * Ready notes of enqueues are cheaper still. An enqueue notifies inside its own transaction unless
 * its queue was notified less than `debounceMs` ago; a skipped one waits here a full window, and
 * is dropped as soon as a later enqueue notifies that queue inside its transaction, which commits
 * after the skipped one did and so covers it. A steady stream of enqueues thus sends one NOTIFY per
 * window and no statements of its own; only the end of a burst costs one.
 */
class NoteSender {
  private pending = new NoteSet()
  private timer: NodeJS.Timeout | undefined
  private deadline = Infinity
  private lastSent = 0
  private readonly readySentAt = new Map<string, number>()
  private sending: Promise<void> | undefined
  private closed = false

  constructor(
    private readonly debounceMs: number,
    private readonly origin: string,
    private readonly deliver: (payloads: string[]) => Promise<void>,
  ) {}

  /** The queues an enqueue may notify inside its own transaction: those not notified within the window. */
  claimReady(queues: string[]): string[] {
    const now = performance.now()
    return queues.filter((queue) => {
      const last = this.readySentAt.get(queue)
      if (last !== undefined && now - last < this.debounceMs) return false
      this.readySentAt.set(queue, now)
      this.pending.ready.delete(queue)
      return true
    })
  }

  /**
   * Queues notes of a committed write. `enqueued` marks an enqueue's: its ready queues not already
   * notified in its transaction wait for a later enqueue to cover them (see the class comment).
   */
  send(notes: NoteSet, enqueued = false): void {
    let urgent = notes.due !== Infinity || notes.finished.length + notes.cancelled.length + notes.progress.length > 0
    for (const queue of notes.ready) {
      if (notes.readySent.has(queue)) continue
      this.pending.ready.add(queue)
      urgent ||= !enqueued
    }
    this.pending.due = Math.min(this.pending.due, notes.due)
    this.pending.finished.push(...notes.finished)
    this.pending.cancelled.push(...notes.cancelled)
    this.pending.progress.push(...notes.progress)
    const now = performance.now()
    this.scheduleAt(urgent ? Math.max(now, this.lastSent + this.debounceMs) : now + this.debounceMs)
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }

  private scheduleAt(at: number): void {
    if (this.closed || at >= this.deadline) return
    clearTimeout(this.timer)
    this.deadline = at
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.deadline = Infinity
        void this.flush()
      },
      Math.max(0, at - performance.now()),
    )
    this.timer.unref()
  }

  private async flush(): Promise<void> {
    await this.sending
    const notes = this.pending
    this.pending = new NoteSet()
    const payloads = payloadsOf(notes, this.origin)
    if (payloads.length === 0) return
    this.lastSent = performance.now()
    for (const queue of notes.ready) this.readySentAt.set(queue, this.lastSent)
    // A hint that cannot be sent is dropped: listeners fall back to polling.
    this.sending = this.deliver(payloads).catch(() => {})
    await this.sending
    this.sending = undefined
  }
}

function payloadsOf(notes: NoteSet, origin: string): string[] {
  const payloads: string[] = []
  for (const queue of notes.ready) payloads.push(`${origin}|r|${queue}`)
  if (notes.due !== Infinity) payloads.push(`${origin}|d|${notes.due}`)
  for (const [kind, ids] of [['f', notes.finished], ['c', notes.cancelled], ['p', notes.progress]] as const) {
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_PAYLOAD) payloads.push(`${origin}|${kind}|${ids.slice(i, i + MAX_IDS_PER_PAYLOAD).join(',')}`)
  }
  return payloads
}

function splitPayload(payload: string): [string, string, string?] {
  const first = payload.indexOf('|')
  const second = payload.indexOf('|', first + 1)
  if (first < 0 || second < 0) return [payload, '']
  return [payload.slice(0, first), payload.slice(first + 1, second), payload.slice(second + 1)]
}

/** The ready index's order, which claims follow; `alias` qualifies the columns. */
function READY_ORDER(alias: string): string {
  const a = alias === '' ? '' : `${alias}.`
  return `${a}priority DESC, ${a}group_rank NULLS FIRST, ${a}run_at, ${a}seq`
}

/** Ready rows a limited claim reads beyond its room, looking past excluded jobs and groups at their limit. */
const CLAIM_SCAN_EXTRA = 10_000

/**
 * A claim's exclusions (`tasks` the parameter of the tasks, `pairs` that of task-and-group pairs as
 * `task\u0001group`), true for a job not excluded. With both arrays empty, as they are but while a
 * breaker is open, it costs a comparison with nothing.
 */
function exclusionSql(tasks: string, pairs: string): string {
  return `task <> ALL(${tasks}::text[]) AND coalesce(task || chr(1) || group_key, '') <> ALL(${pairs}::text[])`
}

/** `ClaimExclusion`s as the two arrays `exclusionSql` takes. */
function exclusionArrays(exclude: readonly ClaimExclusion[] | undefined): [string[], string[]] {
  const tasks: string[] = []
  const pairs: string[] = []
  for (const { task, group } of exclude ?? []) {
    if (group === undefined) tasks.push(task)
    else pairs.push(`${task}\u0001${group}`)
  }
  return [tasks, pairs]
}

/** The name of the limited claim's statement, prepared on each connection that runs one, and its parameters' types. */
const LIMITED_CLAIM = 'offload_claim_limited'
const LIMITED_CLAIM_TYPES = 'timestamptz, text, int, text, bigint, text, int, int, text[], text[], int, int, bigint'

/**
 * A value as an SQL literal, for arguments of a statement run from a simple query (which takes no
 * parameters): finite numbers as they are, strings quoted and escaped, arrays of strings as
 * `ARRAY[…]`, dates as ISO text, null and undefined as NULL.
 */
function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'string') return pg.escapeLiteral(value)
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString())
  if (Array.isArray(value)) return value.length === 0 ? "'{}'" : `ARRAY[${value.map(sqlLiteral).join(', ')}]`
  throw new TypeError(`no SQL literal for ${String(value)}`)
}

/** A claim statement's first parameters (see `claimSql`): the time, what it claims from (queues or a queue), its limit, the worker's. */
function claimArgs(params: JobClaimParams, at: Date | null, from: string | readonly string[], limit: number): unknown[] {
  return [at, from, limit, params.workerId, params.leaseMs, JSON.stringify({ workerId: params.workerId })]
}

type ClaimRow = Pick<JobRow, 'id' | 'task' | 'queue' | 'payload' | 'metadata' | 'priority' | 'attempt' | 'max_attempts' | 'lease' | 'timeout_ms' | 'backoff' | 'key' | 'group_key'> & {
  run_ms: number
  created_ms: number
}

interface FinishedRow {
  seq: number
  id: string
  task: string
  queue: string
  state: JobState
  attempt: number
  run_at: Date
}

interface EventRow {
  seq: number
  id: string
  task: string
  queue: string
  at: Date
  type: JobEventType
  state: JobState
  attempt: number
  data: Record<string, Json> | null
}

/** An attempt's error as the `errors` column holds it (what `toJobInfo` reads back). */
function storedError(error: AttemptError): { attempt: number; at: number; name: string; message: string; stack: string | null } {
  return {
    attempt: error.attempt,
    at: error.at.getTime(),
    name: sanitize(error.name),
    message: sanitize(error.message),
    stack: error.stack === undefined ? null : sanitize(error.stack),
  }
}

function toJobInfo(row: JobRow): JobInfo {
  const job: JobInfo = {
    id: row.id,
    task: row.task,
    queue: row.queue,
    state: row.state,
    payload: row.payload,
    metadata: row.metadata ?? {},
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    createdAt: row.created_at,
    errors: (row.errors ?? []).map(
      (error): AttemptError => ({
        attempt: error.attempt,
        at: new Date(error.at),
        name: error.name,
        message: error.message,
        ...(error.stack == null ? {} : { stack: error.stack }),
      }),
    ),
  }
  if (row.result !== null) job.result = row.result
  if (row.progress !== null) job.progress = row.progress
  if (row.started_at !== null) job.startedAt = row.started_at
  if (row.finished_at !== null) job.finishedAt = row.finished_at
  if (row.key !== null) job.key = row.key
  if (row.group_key !== null) job.group = row.group_key
  if (row.timeout_ms !== null) job.timeoutMs = row.timeout_ms
  if (row.backoff !== null) job.backoff = row.backoff
  if (row.worker_id !== null) job.workerId = row.worker_id
  if (row.lease_expires_at !== null) job.leaseExpiresAt = row.lease_expires_at
  if (row.webhook !== null) job.webhook = row.webhook
  if (row.error_fingerprint !== null) job.errorFingerprint = row.error_fingerprint
  return job
}

function toJobEvent(row: EventRow): JobEvent {
  const event: JobEvent = {
    seq: row.seq,
    jobId: row.id,
    task: row.task,
    queue: row.queue,
    at: row.at,
    type: row.type,
    state: row.state,
    attempt: row.attempt,
  }
  if (row.data !== null) event.data = row.data
  return event
}

/** Identifies a job's idempotency key within a batch, as the keys table stores it. */
function keyName(job: JobInsert): string {
  return `${job.task}\u0000${sanitize(job.key ?? '')}`
}

/**
 * Columns a batch often shares (one task's jobs): sent once when every job has the same value,
 * else per job in the JSON of what varies. Each with the value a job has, and its SQL type.
 */
const SHARED_VALUES = {
  task: (job) => job.task,
  queue: (job) => job.queue,
  priority: (job) => job.priority,
  run_at: (job) => job.runAt,
  delay_ms: (job) => job.delayMs,
  max_attempts: (job) => job.maxAttempts,
  timeout_ms: (job) => job.timeoutMs,
  backoff: (job) => (job.backoff === undefined ? undefined : JSON.stringify(job.backoff)),
  key_ttl_ms: (job) => job.keyTtlMs,
  metadata: (job) => job.metadata,
  webhook: (job) => (job.webhook === undefined ? undefined : sanitize(job.webhook)),
  group_key: (job) => (job.group === undefined ? undefined : sanitize(job.group)),
  group_rank: (job) => (job as RankedInsert).rank,
} satisfies Record<string, (job: JobInsert) => string | number | undefined>

/** A job to insert with its place in its group's turn (see `groupRanks`). */
type RankedInsert = JobInsert & { rank?: number }
type SharedColumn = keyof typeof SHARED_VALUES
const SHARED_COLUMNS = Object.keys(SHARED_VALUES) as SharedColumn[]
const SHARED_TYPES: Record<SharedColumn, string> = {
  task: 'text',
  queue: 'text',
  priority: 'int',
  run_at: 'float8',
  delay_ms: 'float8',
  max_attempts: 'int',
  timeout_ms: 'bigint',
  backoff: 'text',
  key_ttl_ms: 'bigint',
  metadata: 'text',
  webhook: 'text',
  group_key: 'text',
  group_rank: 'bigint',
}

interface InsertInput {
  ids: string[]
  payloads: string[]
  /** NULL (no array) when no job has a key. */
  keys: (string | null)[] | null
  /** JSON: per job, the shared columns whose value differs between jobs (a job leaves out its NULLs); NULL when none differ. */
  varying: string | null
  /** Per shared column, the value every job has; NULL where they differ (each job carries its own). */
  shared: (string | number | null)[]
}

/** An enqueue's parameters: see `insertSql`. */
function insertInput(jobs: readonly JobInsert[]): InsertInput {
  const first = jobs[0]!
  const varying: SharedColumn[] = []
  const shared = SHARED_COLUMNS.map((column) => {
    const read = SHARED_VALUES[column]
    const value = read(first)
    for (let i = 1; i < jobs.length; i++) {
      if (read(jobs[i]!) === value) continue
      varying.push(column)
      return null
    }
    return value ?? null
  })
  const rows = varying.length === 0 ? undefined : jobs.map((job) => {
    const row: Partial<Record<SharedColumn, string | number>> = {}
    for (const column of varying) {
      const value = SHARED_VALUES[column](job)
      if (value !== undefined) row[column] = value
    }
    return row
  })
  return {
    ids: jobs.map((job) => job.id),
    payloads: jobs.map((job) => job.payload),
    keys: jobs.some((job) => job.key !== undefined) ? jobs.map((job) => (job.key === undefined ? null : sanitize(job.key))) : null,
    varying: rows === undefined ? null : JSON.stringify(rows),
    shared,
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate; free text (error messages, log lines,
 * keys) gets U+FFFD for each. node-pg's encoding would turn a lone surrogate into U+FFFD anyway (and
 * the JSON parser refuse its `\udXXX` escape), but only doing it here makes a key the same string
 * in this process as in the keys table, so an enqueue finds the job holding it.
 */
function sanitize(text: string): string {
  const clean = text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text
  return /[\ud800-\udfff]/.test(clean) ? clean.replace(LONE_SURROGATE, '\uFFFD') : clean
}

/** FNV-1a, folded to a signed 32-bit integer: the schema's part of the advisory lock keys. */
function hash32(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash | 0
}

function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '40P01' || code === '40001'
}

/** Connection-level failures: the server is down, unreachable, restarting, or ended our session. */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code === '53300')) return true
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND…
  const message = error instanceof Error ? error.message : ''
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection ended/i.test(
    message,
  )
}

/** Turns driver errors a caller must handle into `OffloadError`s; anything else is a bug and goes up as it is. */
export function pgError(error: unknown, description: string): unknown {
  if (isOffloadError(error)) return error
  const code = (error as { code?: unknown } | null)?.code
  const constraint = (error as { constraint?: unknown } | null)?.constraint
  if (code === '23505' && constraint === 'jobs_id_key') {
    return new OffloadError('JOB_EXISTS', 'a job with that id already exists', { postgres: code }, { cause: error })
  }
  if (code === '21000' && /affect row a second time/.test((error as Error).message)) {
    return new OffloadError('JOB_EXISTS', 'a job with that id already exists', { postgres: code }, { cause: error })
  }
  if (isUnavailable(error)) {
    const message = error instanceof Error ? error.message : String(error)
    return new OffloadError('STORE_UNAVAILABLE', `cannot reach ${description}: ${message}`, { postgres: typeof code === 'string' ? code : null }, { cause: error })
  }
  return error
}

