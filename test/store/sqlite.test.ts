import { existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { errorFingerprint } from '../../src/fingerprint.js'
import { uuidv7 } from '../../src/ids.js'
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/sqlite/migrations.js'
import { QUEUE_READ_SQL, SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { tempDb } from '../support/temp.js'
import { describeBreakerConformance } from './conformance-breaker.js'
import { describeStoreConformance, type StoreHarness } from './conformance.js'
import { describeLimitsConformance } from './conformance-limits.js'
import { describeEnqueueConformance } from './conformance-enqueue.js'
import { describeScheduleConformance } from './conformance-schedule.js'

const harness: StoreHarness = {
  name: 'SqliteStore',
  async createDatabase({ migrated = true } = {}) {
    // Each test gets its own file; temp.ts removes its folder after the test.
    const path = tempDb()
    if (migrated) {
      const store = new SqliteStore({ path })
      try {
        await store.migrate()
      } finally {
        await store.close()
      }
    }
    return {
      open: async () => new SqliteStore({ path }),
      destroy: async () => expectCountsExact(path),
    }
  },
}
describeStoreConformance(harness)
describeLimitsConformance(harness)
describeEnqueueConformance(harness)
describeScheduleConformance(harness)
describeBreakerConformance(harness)

/**
 * After every conformance test, the counts the store kept must equal a recount: the store counts
 * in its own code (CountMoves), so a write path that moves jobs without counting them fails
 * whichever test takes that path.
 */
function expectCountsExact(path: string): void {
  if (!existsSync(path)) return
  const db = new Database(path, { readonly: true })
  try {
    if (db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = 'offload_queue_counts'`).get() === undefined) return
    const kept = db.prepare('SELECT queue, state, n FROM offload_queue_counts WHERE n <> 0 ORDER BY queue, state').all()
    const recounted = db.prepare('SELECT queue, state, count(*) AS n FROM offload_jobs GROUP BY queue, state ORDER BY queue, state').all()
    expect(kept, 'the counts the store kept (offload_queue_counts) against a recount of offload_jobs').toEqual(recounted)
  } finally {
    db.close()
  }
}

// What the shared suite cannot reach without knowing the store: another process holding SQLite's
// write lock. A raw connection in a transaction stands in for that process.
describe("SqliteStore under another connection's write lock", () => {
  test('close waits for a write that is waiting on the lock, then writes it', async () => {
    const path = tempDb()
    const store = new SqliteStore({ path })
    await store.migrate()
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE')
    const id = uuidv7()
    const pending = store.jobInsertMany({ jobs: [{ id, task: 't', queue: 'q', payload: '1', priority: 0, maxAttempts: 1 }] })
    // close() tries the write at once, meets the lock and keeps retrying on its timer.
    const closed = store.close()
    other.exec('COMMIT')
    other.close()
    await closed
    expect(await pending).toEqual([{ id, state: 'queued', existing: false }])
    const reader = new SqliteStore({ path })
    expect((await reader.jobGet({ id }))?.state).toBe('queued')
    await reader.close()
  })
})

describe('SqliteStore schema and batch writes', () => {
  test('a database at version 1 upgrades: the unused finished-jobs index goes, webhooks and paused queues come, the jobs stay', async () => {
    const path = tempDb()
    const old = new Database(path)
    old.exec(`CREATE TABLE offload_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`)
    old.exec(MIGRATIONS[0]!.sql)
    old.prepare('INSERT INTO offload_migrations VALUES (1, ?, 0)').run(MIGRATIONS[0]!.name)
    // A job written by the version-1 store, finished: it must not become due for a webhook.
    const id = uuidv7()
    old
      .prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at, finished_at)
        VALUES (?, 't', 'q', 'completed', 0, 0, 1, '1', 0, 0)`)
      .run(id)
    old.close()
    const store = new SqliteStore({ path })
    // Every later version, whatever their number: this test is about versions 2 and 3.
    expect(await store.migrate()).toEqual({ applied: MIGRATIONS.slice(1).map((migration) => migration.version), version: LATEST_VERSION })
    expect(await store.jobGet({ id })).toMatchObject({ state: 'completed', payload: 1 })
    expect(await store.jobWebhookDispatch({ limit: 10, delivery: { task: 'w', queue: 'w', maxAttempts: 1 } })).toBe(0)
    expect(await store.queueList()).toMatchObject([{ queue: 'q', paused: false }])
    await store.close()
    const check = new Database(path, { readonly: true })
    const indexes = check.prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'offload_jobs'`).pluck().all()
    check.close()
    expect(indexes).not.toContain('offload_jobs_finished')
    expect(indexes).toContain('offload_jobs_ready')
    expect(indexes).toContain('offload_jobs_webhooks_due')
  })

  test('a batch spanning several multi-row statements keeps input order, around keyed jobs, and logs each job once', async () => {
    const path = tempDb()
    const store = new SqliteStore({ path })
    await store.migrate()
    const T = 1_700_000_000_000
    const held = uuidv7(T)
    await store.jobInsertMany({ jobs: [{ id: held, task: 't', queue: 'q', payload: '0', priority: 0, maxAttempts: 1, key: 'k1' }], now: T })
    // 300 rows: blocks of 128, 128, 32, 8 and 4 around three keyed jobs, one of them already held.
    const jobs = Array.from({ length: 300 }, (_, i) => ({
      id: uuidv7(T),
      task: 't',
      queue: 'q',
      payload: String(i),
      priority: 0,
      maxAttempts: 1,
      ...(i === 5 ? { key: 'k1' } : i === 150 ? { key: 'k2' } : i === 151 ? { key: 'k2' } : {}),
    }))
    const results = await store.jobInsertMany({ jobs, now: T })
    expect(results[5]).toEqual({ id: held, state: 'queued', existing: true })
    expect(results[150]).toEqual({ id: jobs[150]!.id, state: 'queued', existing: false })
    expect(results[151]).toEqual({ id: jobs[150]!.id, state: 'queued', existing: true })
    const created = jobs.filter((_, i) => i !== 5 && i !== 151)
    expect(results.filter((result) => !result.existing).map((result) => result.id)).toEqual(created.map((job) => job.id))

    const claimed = await store.jobClaim({ queues: ['q'], workerId: 'w', limit: 1000, leaseMs: 1000, now: T })
    expect(claimed.map((job) => job.id)).toEqual([held, ...created.map((job) => job.id)])
    expect(claimed.map((job) => job.payload)).toEqual([0, ...created.map((job) => Number(job.payload))])
    const events = await store.eventList({ limit: 10_000 })
    expect(events.filter((event) => event.type === 'enqueued').map((event) => event.jobId)).toEqual([held, ...created.map((job) => job.id)])
    expect(events.filter((event) => event.type === 'started')).toHaveLength(claimed.length)
    await store.close()
  })
})

describe('SqliteStore fingerprint backfill', () => {
  test('migrate fingerprints the failed jobs stored without one (before version 4) from their last error, in batches', async () => {
    const path = tempDb()
    const fresh = new SqliteStore({ path })
    await fresh.migrate()
    await fresh.close()
    // Rows as a version-3 store left them: failed, with errors, without a fingerprint.
    const raw = new Database(path)
    const insert = raw.prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at, finished_at, errors)
      VALUES (?, 't', 'q', ?, 0, 0, 2, '1', 0, ?, ?)`)
    const last = (n: number) => ({ name: 'TypeError', message: `user ${n} missing`, stack: 'TypeError: x\n    at load (/app/src/a.ts:1:1)' })
    const errors = (n: number) => JSON.stringify([{ attempt: 1, at: 0, name: 'Error', message: 'first', stack: null }, { attempt: 2, at: 0, ...last(n) }])
    const completed = uuidv7()
    raw.transaction(() => {
      for (let i = 0; i < 2500; i++) insert.run(uuidv7(), 'failed', i, errors(i))
      insert.run(uuidv7(), 'failed', 0, null)
      insert.run(completed, 'completed', 0, errors(0))
    })()
    raw.close()
    const store = new SqliteStore({ path })
    await store.migrate()
    const groups = await store.jobFailureGroups({ limit: 10 })
    expect(groups.map((group) => [group.fingerprint, group.count])).toEqual([
      [errorFingerprint(last(1)), 2500],
      [errorFingerprint({ name: 'Error', message: '' }), 1],
    ])
    expect(groups[0]!.sample).toMatchObject(last(2499))
    expect((await store.jobGet({ id: completed }))?.errorFingerprint).toBeUndefined()
    await store.close()
  })
})

describe('SqliteStore job counts', () => {
  test('no statement queueList or jobCounts runs scans the jobs table: the oldest queued job is found by seeks in the ready index', async () => {
    const path = tempDb()
    const store = new SqliteStore({ path })
    await store.migrate()
    // Enough jobs, queues and priorities that a scan would be a real choice, planned with and without statistics.
    for (let batch = 0; batch < 10; batch++) {
      const jobs = Array.from({ length: 1000 }, (_, i) => ({ id: uuidv7(), task: 't', queue: `q${i % 3}`, payload: '1', priority: i % 4, maxAttempts: 1 }))
      await store.jobInsertMany({ jobs })
    }
    await store.jobClaim({ queues: ['q0'], workerId: 'w', limit: 500, leaseMs: 60_000 })
    await store.close()
    const db = new Database(path)
    try {
      for (const analyzed of [false, true]) {
        if (analyzed) db.exec('ANALYZE')
        for (const [name, sql] of Object.entries(QUEUE_READ_SQL)) {
          const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail)
          const what = `${name}${analyzed ? ' (analyzed)' : ''}: ${plan.join(' | ')}`
          // The statements name the jobs table `j`.
          expect(plan.filter((step) => /^SCAN (offload_jobs|j)\b/.test(step)), what).toEqual([])
          if (name === 'oldest') expect(plan.filter((step) => step.includes('USING COVERING INDEX offload_jobs_ready')), what).toHaveLength(3)
        }
      }
    } finally {
      db.close()
    }
  })

  test('a database at version 4 upgrades with its jobs counted', async () => {
    const path = tempDb()
    const old = new Database(path)
    old.exec(`CREATE TABLE offload_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`)
    for (const migration of MIGRATIONS.filter((migration) => migration.version <= 4)) {
      old.exec(migration.sql)
      old.prepare('INSERT INTO offload_migrations VALUES (?, ?, 0)').run(migration.version, migration.name)
    }
    const insert = old.prepare(`INSERT INTO offload_jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
      VALUES (?, 't', ?, ?, ?, ?, 1, '1', 0)`)
    const rows = [
      ['a', 'queued', 0, 500],
      ['a', 'queued', 3, 900],
      ['a', 'completed', 0, 100],
      ['b', 'scheduled', 0, 100],
      ['b', 'failed', 0, 100],
    ] as const
    for (const [queue, state, priority, runAt] of rows) insert.run(uuidv7(), queue, state, priority, runAt)
    old.close()
    const store = new SqliteStore({ path })
    expect((await store.migrate()).applied).toContain(5)
    expect(await store.jobCounts()).toEqual([
      { queue: 'a', state: 'completed', count: 1 },
      { queue: 'a', state: 'queued', count: 2 },
      { queue: 'b', state: 'failed', count: 1 },
      { queue: 'b', state: 'scheduled', count: 1 },
    ])
    expect((await store.queueList()).map((queue) => [queue.queue, queue.oldestQueuedAt?.getTime()])).toEqual([
      ['a', 500],
      ['b', undefined],
    ])
    await store.close()
  })
})
