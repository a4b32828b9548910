/**
 * Where Offload's SQLite store spends its time, measured on the store's own schema: evidence for
 * the suggestions in the bench report, not part of `npm run bench`.
 *
 *   npx tsx bench/experiments/sqlite-costs.ts [--jobs 20000] [--rounds 5]
 *
 * 1. WAL frames (pages) one single-job enqueue commit writes — each is 4 KiB to write and sync.
 * 2. The drain's store work (claim 50 + complete 50 per commit, as the worker's group commit
 *    pairs them): through the real SqliteStore, then the same SQL variants by hand — set-based
 *    outcome and event statements, no per-op savepoints, events without AUTOINCREMENT.
 * 3. One claim commit alone, synchronous=FULL vs NORMAL (the enqueue → start path pays for it).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database, { type Database as Db } from 'better-sqlite3'
import { SqliteStore } from '../../src/index.js'
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js'
import { uuidv7 } from '../../src/ids.js'
import { median } from '../lib/stats.js'

const args = process.argv.slice(2)
const JOBS = Number(args[args.indexOf('--jobs') + 1] || 20_000) || 20_000
const BATCH = 50
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 5) || 5
const dir = mkdtempSync(join(tmpdir(), 'offload-sqlite-costs-'))
let fileCount = 0

interface Variant {
  /** Set-based UPDATE … FROM json_each for outcomes, one INSERT … SELECT for their events. */
  setBasedFinish: boolean
  /** One INSERT … SELECT for the claim's `started` events instead of one INSERT per job. */
  setBasedClaimEvents: boolean
  /** Each op in its own SAVEPOINT, as GroupCommit does. */
  savepoints: boolean
  /** offload_events.seq AUTOINCREMENT, as migration 1 has it. */
  autoincrement: boolean
  /** PRAGMA temp_store = MEMORY: savepoint sub-journals in memory rather than in temp files. */
  tempStoreMemory?: boolean
}

function openDb(autoincrement = true): { db: Db; file: string } {
  const file = join(dir, `costs-${++fileCount}.db`)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('journal_size_limit = 67108864')
  // The store's schema as migrate() leaves it today.
  let sql = MIGRATIONS.map((migration) => migration.sql).join('\n')
  if (!autoincrement) sql = sql.replace('seq INTEGER PRIMARY KEY AUTOINCREMENT', 'seq INTEGER PRIMARY KEY')
  db.exec(sql)
  return { db, file }
}

function seed(db: Db, jobs: number): void {
  const insert = db.prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
    VALUES (?, 'bench.noop', 'bench', 'queued', 0, ?, 5, ?, ?)`)
  const event = db.prepare(`INSERT INTO offload_events (job_seq, at, type, state, attempt) VALUES (?, ?, 'enqueued', 'queued', 0)`)
  const now = Date.now()
  db.transaction(() => {
    for (let i = 0; i < jobs; i++) event.run(Number(insert.run(uuidv7(now), now, JSON.stringify({ i }), now).lastInsertRowid), now)
  })()
}

// ─── 1. WAL frames per single-job enqueue commit ────────────────────────────────────────────────

function walFramesPerEnqueue(autoincrement: boolean): number {
  const { db, file } = openDb(autoincrement)
  seed(db, 1000)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.pragma('wal_autocheckpoint = 0')
  const insert = db.prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
    VALUES (?, 'bench.noop', 'bench', 'queued', 0, ?, 5, ?, ?)`)
  const event = db.prepare(`INSERT INTO offload_events (job_seq, at, type, state, attempt) VALUES (?, ?, 'enqueued', 'queued', 0)`)
  const commits = 200
  for (let i = 0; i < commits; i++) {
    const now = Date.now()
    db.transaction(() => event.run(Number(insert.run(uuidv7(now), now, '{"i":1}', now).lastInsertRowid), now)).immediate()
  }
  const pageSize = db.pragma('page_size', { simple: true }) as number
  const frames = (statSync(file + '-wal').size - 32) / (pageSize + 24)
  db.close()
  return frames / commits
}

// ─── 2. The drain's store work ──────────────────────────────────────────────────────────────────

async function drainThroughStore(jobs: number, tempStoreMemory = false): Promise<number> {
  const file = join(dir, `store-${++fileCount}.db`)
  const store = new SqliteStore({ path: file })
  // The suggestion, applied from outside: the connection is private, experiments may reach it.
  if (tempStoreMemory) (store as unknown as { db: Db }).db.pragma('temp_store = MEMORY')
  await store.migrate()
  const now = Date.now()
  for (let first = 0; first < jobs; first += 10_000) {
    await store.jobInsertMany({
      jobs: Array.from({ length: Math.min(10_000, jobs - first) }, (_, k) => ({
        id: uuidv7(now),
        task: 'bench.noop',
        queue: 'bench',
        payload: JSON.stringify({ i: first + k }),
        priority: 0,
        maxAttempts: 5,
      })),
    })
  }
  const started = performance.now()
  let previous: { id: string; lease: number }[] = []
  let done = 0
  for (;;) {
    // Like the worker: the previous batch's outcomes and the next claim in one group commit.
    const [claimed] = await Promise.all([
      store.jobClaim({ queues: ['bench'], workerId: 'w', limit: BATCH, leaseMs: 15_000 }),
      store.jobFinishMany({ finishes: previous.map((job) => ({ id: job.id, lease: job.lease, outcome: 'completed' as const, result: 'null' })) }),
    ])
    done += previous.length
    if (claimed.length === 0) break
    previous = claimed.map((job) => ({ id: job.id, lease: job.lease }))
  }
  const ms = performance.now() - started
  await store.close()
  if (done !== jobs) throw new Error(`store drain finished ${done} of ${jobs}`)
  return (jobs / ms) * 1000
}

/** Time per part of the drain cycle, µs per job, filled by `drainByHand` when asked. */
type Breakdown = Record<string, number>

function drainByHand(jobs: number, variant: Variant, breakdown?: Breakdown): number {
  const timed = <T>(part: string, fn: () => T): T => {
    if (breakdown === undefined) return fn()
    const started = performance.now()
    try {
      return fn()
    } finally {
      breakdown[part] = (breakdown[part] ?? 0) + ((performance.now() - started) * 1000) / jobs
    }
  }
  const { db } = openDb(variant.autoincrement)
  if (variant.tempStoreMemory === true) db.pragma('temp_store = MEMORY')
  seed(db, jobs)
  const claim = db.prepare(`UPDATE offload_jobs
      SET state = 'running', attempt = attempt + 1, lease = lease + 1, worker_id = ?, lease_expires_at = ?, started_at = ?
      WHERE seq IN (SELECT seq FROM (SELECT * FROM (SELECT seq, priority, run_at FROM offload_jobs
        WHERE state = 'queued' AND queue = ? ORDER BY priority DESC, run_at, seq LIMIT +?)) ORDER BY priority DESC, run_at, seq LIMIT +?)
      RETURNING seq, id, task, queue, payload, metadata, priority, run_at, attempt, max_attempts, lease, timeout_ms,
        backoff, key, created_at`)
  const event = db.prepare('INSERT INTO offload_events (job_seq, at, type, state, attempt, data) VALUES (?, ?, ?, ?, ?, ?)')
  const eventsFromJson = db.prepare(`INSERT INTO offload_events (job_seq, at, type, state, attempt, data)
      SELECT value ->> 0, ?, ?, ?, value ->> 1, ? FROM json_each(?)`)
  const finishOne = db.prepare(`UPDATE offload_jobs SET state = 'completed', result = ?, finished_at = ?,
      worker_id = NULL, lease_expires_at = NULL WHERE id = ? AND lease = ? AND state = 'running'
      RETURNING seq, id, task, queue, attempt, key, key_ttl_ms`)
  const finishMany = db.prepare(`UPDATE offload_jobs SET state = 'completed', result = f.value ->> 2, finished_at = ?,
      worker_id = NULL, lease_expires_at = NULL
      FROM json_each(?) AS f
      WHERE offload_jobs.id = f.value ->> 0 AND offload_jobs.lease = f.value ->> 1 AND offload_jobs.state = 'running'
      RETURNING seq, id, task, queue, attempt, key, key_ttl_ms`)
  const savepoint = db.prepare('SAVEPOINT op')
  const release = db.prepare('RELEASE op')
  const op = <T>(fn: () => T): T => {
    if (!variant.savepoints) return fn()
    timed('SAVEPOINT', () => savepoint.run())
    const result = fn()
    timed('RELEASE (a savepoint that spilled its sub-journal to a temp file pays here)', () => release.run())
    return result
  }

  const finish = (batch: { id: string; lease: number }[], at: number): void => {
    if (batch.length === 0) return
    op(() => {
      if (variant.setBasedFinish) {
        const rows = timed('complete: UPDATE … FROM json_each … RETURNING', () =>
          finishMany.all(at, JSON.stringify(batch.map((job) => [job.id, job.lease, 'null']))),
        ) as { seq: number; attempt: number }[]
        timed('complete: INSERT events … SELECT FROM json_each', () =>
          eventsFromJson.run(at, 'completed', 'completed', null, JSON.stringify(rows.map((row) => [row.seq, row.attempt]))),
        )
      } else {
        for (const job of batch) {
          const row = finishOne.get('null', at, job.id, job.lease) as { seq: number; attempt: number } | undefined
          if (row !== undefined) event.run(row.seq, at, 'completed', 'completed', row.attempt, null)
        }
      }
    })
  }
  const claimBatch = (at: number): { id: string; lease: number }[] =>
    op(() => {
      const rows = timed('claim: UPDATE … WHERE seq IN (…) RETURNING', () => claim.all('w', at + 15_000, at, 'bench', BATCH, BATCH)) as {
        seq: number; id: string; attempt: number; lease: number; payload: string; metadata: string | null
      }[]
      const data = JSON.stringify({ workerId: 'w' })
      if (variant.setBasedClaimEvents) {
        timed('claim: INSERT events … SELECT FROM json_each', () =>
          eventsFromJson.run(at, 'started', 'running', data, JSON.stringify(rows.map((row) => [row.seq, row.attempt]))),
        )
      } else {
        for (const row of rows) event.run(row.seq, at, 'started', 'running', row.attempt, data)
      }
      // The store parses what it hands to handlers: keep that cost in.
      return rows.map((row) => {
        JSON.parse(row.payload)
        if (row.metadata !== null) JSON.parse(row.metadata)
        return { id: row.id, lease: row.lease }
      })
    })
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const cycle = (previous: { id: string; lease: number }[]): { id: string; lease: number }[] => {
    timed('BEGIN IMMEDIATE', () => begin.run())
    const at = Date.now()
    finish(previous, at)
    const claimed = claimBatch(at)
    timed('COMMIT (fsync of the WAL)', () => commit.run())
    return claimed
  }

  const started = performance.now()
  let previous: { id: string; lease: number }[] = []
  let done = 0
  for (;;) {
    const claimed = cycle(previous)
    done += previous.length
    if (claimed.length === 0) break
    previous = claimed
  }
  const ms = performance.now() - started
  db.close()
  if (done !== jobs) throw new Error(`hand drain finished ${done} of ${jobs}`)
  return (jobs / ms) * 1000
}

// ─── 3. One claim commit, FULL vs NORMAL ────────────────────────────────────────────────────────

function claimCommitMicros(synchronous: 'FULL' | 'NORMAL'): number {
  const { db } = openDb()
  seed(db, 2000)
  db.pragma(`synchronous = ${synchronous}`)
  const claim = db.prepare(`UPDATE offload_jobs SET state = 'running', attempt = attempt + 1, lease = lease + 1, worker_id = ?,
      lease_expires_at = ?, started_at = ? WHERE seq IN (SELECT seq FROM offload_jobs WHERE state = 'queued' AND queue = ?
      ORDER BY priority DESC, run_at, seq LIMIT 1) RETURNING seq, attempt`)
  const event = db.prepare('INSERT INTO offload_events (job_seq, at, type, state, attempt, data) VALUES (?, ?, ?, ?, ?, ?)')
  const one = db.transaction(() => {
    const at = Date.now()
    const row = claim.get('w', at + 15_000, at, 'bench') as { seq: number; attempt: number }
    event.run(row.seq, at, 'started', 'running', row.attempt, '{"workerId":"w"}')
  })
  const times: number[] = []
  for (let i = 0; i < 1000; i++) {
    const started = performance.now()
    one.immediate()
    times.push((performance.now() - started) * 1000)
  }
  db.close()
  return median(times)
}

// ─── 4. Sequential single-job enqueue transactions ─────────────────────────────────────────────

function sequentialEnqueues(autoincrement: boolean, savepoint: boolean, commits = 3000): { rate: number; commitUs: number } {
  const { db } = openDb(autoincrement)
  seed(db, 1000)
  const insert = db.prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
    VALUES (?, 'bench.noop', 'bench', 'queued', 0, ?, 5, ?, ?)`)
  const event = db.prepare(`INSERT INTO offload_events (job_seq, at, type, state, attempt) VALUES (?, ?, 'enqueued', 'queued', 0)`)
  const begin = db.prepare('BEGIN IMMEDIATE')
  const commit = db.prepare('COMMIT')
  const open = db.prepare('SAVEPOINT op')
  const release = db.prepare('RELEASE op')
  const commitTimes: number[] = []
  const started = performance.now()
  for (let i = 0; i < commits; i++) {
    const now = Date.now()
    begin.run()
    if (savepoint) open.run()
    event.run(Number(insert.run(uuidv7(now), now, '{"i":1}', now).lastInsertRowid), now)
    if (savepoint) release.run()
    const before = performance.now()
    commit.run()
    commitTimes.push((performance.now() - before) * 1000)
  }
  const ms = performance.now() - started
  db.close()
  return { rate: (commits / ms) * 1000, commitUs: median(commitTimes) }
}

// ─── Run ────────────────────────────────────────────────────────────────────────────────────────

const current: Variant = { setBasedFinish: false, setBasedClaimEvents: false, savepoints: true, autoincrement: true }
const variants: [string, Variant][] = [
  ['by hand, per-job outcome and event statements (the store before c961b49), savepoints, AUTOINCREMENT', current],
  ['+ outcomes set-based (one UPDATE … FROM json_each + one INSERT … SELECT per batch)', { ...current, setBasedFinish: true }],
  ['+ claim events set-based too (≈ the store\'s SQL since c961b49)', { ...current, setBasedFinish: true, setBasedClaimEvents: true }],
  ['+ no per-op SAVEPOINT', { ...current, setBasedFinish: true, setBasedClaimEvents: true, savepoints: false }],
  ['+ events without AUTOINCREMENT', { setBasedFinish: true, setBasedClaimEvents: true, savepoints: false, autoincrement: false }],
  ['per-job statements, only AUTOINCREMENT dropped', { ...current, autoincrement: false }],
  ['per-job statements, savepoint sub-journals in memory (temp_store = MEMORY)', { ...current, tempStoreMemory: true }],
  ['set-based, savepoints kept, temp_store = MEMORY', { ...current, setBasedFinish: true, setBasedClaimEvents: true, tempStoreMemory: true }],
]

try {
  console.log(`SQLite ${new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get()}, files in ${dir}\n`)
  console.log('1. WAL frames (4 KiB pages) written per single-job enqueue commit:')
  console.log(`   events with AUTOINCREMENT (today): ${walFramesPerEnqueue(true).toFixed(2)}`)
  console.log(`   events without AUTOINCREMENT:      ${walFramesPerEnqueue(false).toFixed(2)}\n`)

  console.log(`2. Drain store work, ${JOBS.toLocaleString('en-US')} jobs, claim ${BATCH} + complete ${BATCH} per commit (median of ${ROUNDS}, variants interleaved):`)
  const rates = new Map<string, number[]>()
  const record = (name: string, rate: number): void => void rates.set(name, [...(rates.get(name) ?? []), rate])
  const storeName = 'through SqliteStore.jobClaim + jobFinishMany (GroupCommit)'
  for (let round = 0; round < ROUNDS; round++) {
    record(storeName, await drainThroughStore(JOBS))
    record(`${storeName} + PRAGMA temp_store = MEMORY`, await drainThroughStore(JOBS, true))
    for (const [name, variant] of variants) record(name, drainByHand(JOBS, variant))
  }
  for (const [name, values] of rates) {
    console.log(`   ${Math.round(median(values)).toLocaleString('en-US').padStart(8)} jobs/s  ${name}   [${values.map((v) => Math.round(v / 100) / 10).join(', ')}k]`)
  }

  for (const [name, variant] of [
    ['the store\'s SQL since c961b49', variants[2]![1]],
    ['the same with temp_store = MEMORY', variants[variants.length - 1]![1]],
  ] as const) {
    const parts: Breakdown = {}
    for (let round = 0; round < ROUNDS; round++) drainByHand(JOBS, variant, parts)
    console.log(`\n   where a job's time goes, ${name} (µs per job, mean of ${ROUNDS}):`)
    for (const [part, us] of Object.entries(parts)) console.log(`   ${(us / ROUNDS).toFixed(2).padStart(8)}  ${part}`)
  }

  console.log(`\n4. Single-job enqueue transactions one after another, by hand (median of ${ROUNDS}):`)
  for (const [name, autoincrement, savepoint] of [
    ['as the store does (savepoint, AUTOINCREMENT)', true, true],
    ['no savepoint', true, false],
    ['no AUTOINCREMENT', false, true],
  ] as const) {
    const runs = Array.from({ length: ROUNDS }, () => sequentialEnqueues(autoincrement, savepoint))
    console.log(`   ${Math.round(median(runs.map((r) => r.rate))).toLocaleString('en-US').padStart(7)} jobs/s, COMMIT median ${median(runs.map((r) => r.commitUs)).toFixed(0)} µs  ${name}`)
  }

  console.log('\n3. One single-job claim transaction (UPDATE … RETURNING + started event), median µs:')
  console.log(`   synchronous=FULL:   ${claimCommitMicros('FULL').toFixed(0)} µs`)
  console.log(`   synchronous=NORMAL: ${claimCommitMicros('NORMAL').toFixed(0)} µs`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
