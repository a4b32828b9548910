import { afterEach, describe, expect, test } from 'vitest'
import { errorFingerprint } from '../../src/fingerprint.js'
import { uuidv7 } from '../../src/ids.js'
import { MIGRATIONS } from '../../src/store/postgres/migrations.js'
import { PostgresStore, queueReadSql } from '../../src/store/postgres/postgres-store.js'
import type { JobInsert } from '../../src/store/store.js'
import { adminQuery, dropSchema, PG_URL, schemaName } from '../support/postgres.js'
import { describeBreakerConformance } from './conformance-breaker.js'
import { describeStoreConformance, type StoreHarness } from './conformance.js'
import { describeLimitsConformance } from './conformance-limits.js'
import { describeEnqueueConformance } from './conformance-enqueue.js'
import { describeScheduleConformance } from './conformance-schedule.js'

const harness: StoreHarness = {
  name: 'PostgresStore',
  async createDatabase({ migrated = true } = {}) {
    // Each test gets its own schema on the real server, dropped after the test.
    const schema = schemaName('conf')
    const open = (): PostgresStore => new PostgresStore({ url: PG_URL, schema, poolSize: 4 })
    if (migrated) {
      const store = open()
      try {
        await store.migrate()
      } finally {
        await store.close()
      }
    }
    return {
      open: async () => open(),
      destroy: async () => {
        try {
          await expectCountsExact(schema)
        } finally {
          await dropSchema(schema)
        }
      },
    }
  },
}
describeStoreConformance(harness)
describeLimitsConformance(harness)
describeEnqueueConformance(harness)
describeScheduleConformance(harness)
describeBreakerConformance(harness)

/**
 * After every conformance test, the counts the store kept (totals plus unfolded deltas) must equal
 * a recount: the store counts in each statement that moves jobs (`countedSql`), so a statement that
 * forgets fails whichever test runs it.
 */
async function expectCountsExact(schema: string): Promise<void> {
  const [table] = await adminQuery<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`${schema}.queue_counts`])
  if (table?.t == null) return
  const kept = await adminQuery(`SELECT queue, state, sum(n)::int AS n FROM (
      SELECT queue, state, n FROM ${schema}.queue_counts UNION ALL SELECT queue, state, delta FROM ${schema}.queue_count_deltas
    ) AS c GROUP BY queue, state HAVING sum(n) <> 0 ORDER BY queue COLLATE "C", state COLLATE "C"`)
  const recounted = await adminQuery(`SELECT queue, state, count(*)::int AS n FROM ${schema}.jobs GROUP BY queue, state ORDER BY queue COLLATE "C", state COLLATE "C"`)
  expect(kept, 'the counts the store kept (queue_counts + queue_count_deltas) against a recount of jobs').toEqual(recounted)
}

// What the shared suite cannot see: how this store spaces out its NOTIFYs under a burst.
describe('PostgresStore wake-ups under a burst of enqueues', () => {
  test('every enqueue of a burst is followed by a ready note another connection hears, the last one included', async () => {
    const schema = schemaName('burst')
    // A long window makes the skipped in-transaction NOTIFYs certain rather than timing-dependent.
    const producer = new PostgresStore({ url: PG_URL, schema, notifyDebounceMs: 300 })
    const consumer = new PostgresStore({ url: PG_URL, schema })
    try {
      await producer.migrate()
      let heard = 0
      const waiters: (() => void)[] = []
      const unlisten = consumer.listen((note) => {
        if (note.kind !== 'ready') return
        heard++
        for (const wake of waiters.splice(0)) wake()
      })
      const nextReady = (): Promise<void> => new Promise((resolve) => waiters.push(resolve))
      // The first write is heard once the consumer's LISTEN is up (its first note says "changed").
      while (heard === 0) {
        const heardOne = nextReady()
        await producer.jobInsertMany({ jobs: [jobAt()] })
        await Promise.race([heardOne, new Promise((resolve) => setTimeout(resolve, 100))])
      }
      for (let i = 0; i < 5; i++) {
        const before = heard
        const heardAfter = nextReady()
        await producer.jobInsertMany({ jobs: [jobAt()] })
        // Notified inside the transaction, or at the end of the window: either way after this commit.
        await heardAfter
        expect(heard).toBeGreaterThan(before)
      }
      unlisten()
    } finally {
      await producer.close()
      await consumer.close()
      await dropSchema(schema)
    }
  })
})

// What the shared suite leaves to each store: how this one carries a batch to the server (arrays of
// ids, payloads and keys; scalars for the columns the jobs share, one JSON document of those they do
// not) must not change a byte.
describe('PostgresStore enqueue input', () => {
  const T = 1_700_000_000_000
  const opened: { store: PostgresStore; schema: string }[] = []
  afterEach(async () => {
    for (const { store, schema } of opened.splice(0)) {
      await store.close()
      await dropSchema(schema)
    }
  })
  async function migrated(): Promise<{ store: PostgresStore; schema: string }> {
    const schema = schemaName('input')
    const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 })
    opened.push({ store, schema })
    await store.migrate()
    return { store, schema }
  }

  test('payload and metadata texts are stored exactly as given: spacing, key order, duplicate keys, escapes', async () => {
    const { store, schema } = await migrated()
    const payload = '{"b": 1,  "a":"x\\u0000y \\"q\\" \\\\ \\ud83d\\ude00 é", "a": [1 ,2]}'
    const metadata = '{ "z":"\\u0000", "y" : null }'
    const job = { ...jobAt(), payload, metadata }
    await store.jobInsertMany({ jobs: [job, jobAt()], now: T })
    const [row] = await adminQuery<{ payload: string; metadata: string }>(
      `SELECT payload::text, metadata::text FROM ${schema}.jobs WHERE id = $1`,
      [job.id],
    )
    expect(row).toEqual({ payload, metadata })
  })

  test('jobs of one batch that differ in every column each keep their own values', async () => {
    const { store } = await migrated()
    const backoff = { type: 'fixed', delay: 250, jitter: 0 } as const
    const jobs: JobInsert[] = [
      { ...jobAt(), task: 'a', queue: 'q1', priority: 1, maxAttempts: 2, timeoutMs: 1000, backoff, keyTtlMs: 5000, key: 'k1', metadata: '{"m":1}' },
      { ...jobAt(), task: 'b', queue: 'q2', priority: -3, maxAttempts: 9, runAt: T + 7000 },
      { ...jobAt(), task: 'a', queue: 'q1', priority: 1, maxAttempts: 2, timeoutMs: 2000, delayMs: 3000 },
      { ...jobAt(), task: 'c', queue: 'q1', priority: 0, maxAttempts: 1, runAt: T - 1000 },
    ]
    const results = await store.jobInsertMany({ jobs, now: T })
    expect(results.map((result) => result.state)).toEqual(['queued', 'scheduled', 'scheduled', 'queued'])
    const got = await Promise.all(jobs.map((job) => store.jobGet({ id: job.id })))
    expect(got.map((job) => [job?.task, job?.queue, job?.priority, job?.maxAttempts, job?.timeoutMs, job?.backoff, job?.key, job?.metadata, job?.runAt.getTime()])).toEqual([
      ['a', 'q1', 1, 2, 1000, backoff, 'k1', { m: 1 }, T],
      ['b', 'q2', -3, 9, undefined, undefined, undefined, {}, T + 7000],
      ['a', 'q1', 1, 2, 2000, undefined, undefined, {}, T + 3000],
      ['c', 'q1', 0, 1, undefined, undefined, undefined, {}, T - 1000],
    ])
  })

  test('a batch sharing every column but the run time reports each job in its own state', async () => {
    const { store } = await migrated()
    const jobs = [{ ...jobAt(), delayMs: 1000 }, jobAt(), { ...jobAt(), delayMs: 1000 }, { ...jobAt(), runAt: T + 1 }]
    const results = await store.jobInsertMany({ jobs, now: T })
    expect(results.map((result) => result.state)).toEqual(['scheduled', 'queued', 'scheduled', 'scheduled'])
    const all = await store.jobInsertMany({ jobs: [{ ...jobAt(), delayMs: 5 }, { ...jobAt(), delayMs: 5 }], now: T })
    expect(all.map((result) => result.state)).toEqual(['scheduled', 'scheduled'])
  })

  test('a key is stored as given (NUL and lone surrogates as U+FFFD) and finds its holder', async () => {
    const { store } = await migrated()
    const keys = [
      ['nul\u0000key', 'nul\uFFFDkey'],
      ['lone\ud800high', 'lone\uFFFDhigh'],
      ['lone\udc00low', 'lone\uFFFDlow'],
      ['pair\ud83d\ude00ok', 'pair\ud83d\ude00ok'],
      // What a text[] literal must quote.
      ['q"uote\\back{a,b} NULL', 'q"uote\\back{a,b} NULL'],
      ['NULL', 'NULL'],
    ]
    for (const [key, stored] of keys) {
      const first = { ...jobAt(), key }
      expect(await store.jobInsertMany({ jobs: [first], now: T })).toEqual([{ id: first.id, state: 'queued', existing: false }])
      expect(await store.jobInsertMany({ jobs: [{ ...jobAt(), key }], now: T })).toEqual([{ id: first.id, state: 'queued', existing: true }])
      expect(await store.jobInsertMany({ jobs: [{ ...jobAt(), key: stored }], now: T })).toEqual([{ id: first.id, state: 'queued', existing: true }])
      expect((await store.jobGet({ id: first.id }))?.key).toBe(stored)
    }
  })
})

describe('PostgresStore fingerprint backfill', () => {
  test('migrate fingerprints the failed jobs stored without one (before version 3) as a failure would have, NUL and all', async () => {
    const schema = schemaName('backfill')
    const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 })
    try {
      await store.migrate()
      const T = 1_700_000_000_000
      // A failure fingerprinted as it happens, of an error stored sanitised (NUL as U+FFFD).
      const job = jobAt()
      await store.jobInsertMany({ jobs: [job], now: T })
      const [claimed] = await store.jobClaim({ queues: ['q'], workerId: 'w', limit: 1, leaseMs: 1000, now: T })
      const error = { name: 'TypeError', message: 'user\u0000 7 missing', stack: 'TypeError: x\n    at load (/app/src/a.ts:1:1)' }
      await store.jobFinishMany({ finishes: [{ id: job.id, lease: claimed!.lease, outcome: 'failed', error }], now: T + 10 })
      const fingerprint = (await store.jobGet({ id: job.id }))!.errorFingerprint!
      expect(fingerprint).toBe(errorFingerprint({ ...error, message: 'user\uFFFD 7 missing' }))
      // Rows as a version-2 store left them: failed without a fingerprint, more than a batch.
      await adminQuery(`INSERT INTO ${schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at, finished_at, errors)
        SELECT gen_random_uuid()::text, 't', 'q', 'failed', 0, now(), 1, '1', now(), now(), (SELECT errors FROM ${schema}.jobs WHERE id = $1)
        FROM generate_series(1, 2500)`, [job.id])
      await adminQuery(`UPDATE ${schema}.jobs SET error_fingerprint = NULL`)
      await store.migrate()
      expect(await store.jobFailureGroups({ limit: 10 })).toMatchObject([{ fingerprint, count: 2501 }])
    } finally {
      await store.close()
      await dropSchema(schema)
    }
  })
})

describe('PostgresStore job counts', () => {
  const schemas: string[] = []
  afterEach(async () => {
    for (const schema of schemas.splice(0)) await dropSchema(schema)
  })

  test('no statement queueList or jobCounts runs reads the jobs table but through the ready index', async () => {
    const schema = schemaName('plans')
    schemas.push(schema)
    const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 })
    try {
      await store.migrate()
      // Enough jobs, queues and priorities, some of them claimed, that a scan would be a real choice.
      for (let batch = 0; batch < 20; batch++) {
        const jobs = Array.from({ length: 1000 }, (_, i) => ({ ...jobAt(), queue: `q${i % 3}`, priority: i % 4 }))
        await store.jobInsertMany({ jobs })
      }
      await store.jobClaim({ queues: ['q0'], workerId: 'w', limit: 500, leaseMs: 60_000 })
    } finally {
      await store.close()
    }
    await adminQuery(`ANALYZE ${schema}.jobs`)
    for (const [name, sql] of Object.entries(queueReadSql(schema))) {
      // As run (ANALYZE, VERBOSE): a plain EXPLAIN leaves out the subplan of the recursive step.
      const plan = (await adminQuery<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, VERBOSE) ${sql}`)).map((row) => row['QUERY PLAN'])
      const what = `${name}:\n${plan.join('\n')}`
      expect(plan.filter((line) => /(Seq Scan|Bitmap Heap Scan) on (\w+\.)?jobs\b/.test(line)), what).toEqual([])
      if (name === 'list') expect(plan.filter((line) => /Index Only Scan using jobs_ready on (\w+\.)?jobs\b/.test(line)), what).toHaveLength(3)
    }
  })

  test('a schema at version 3 upgrades with its jobs counted', async () => {
    const schema = schemaName('upgrade')
    schemas.push(schema)
    await adminQuery(`CREATE SCHEMA ${schema}`)
    await adminQuery(`CREATE TABLE ${schema}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    for (const migration of MIGRATIONS.filter((migration) => migration.version <= 3)) {
      await adminQuery(migration.sql.replaceAll('{schema}', schema))
      await adminQuery(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name])
    }
    const rows = [
      ['a', 'queued', 0, 500],
      ['a', 'queued', 3, 900],
      ['a', 'completed', 0, 100],
      ['b', 'scheduled', 0, 100],
      ['b', 'running', 0, 100],
    ] as const
    for (const [queue, state, priority, runAt] of rows) {
      await adminQuery(
        `INSERT INTO ${schema}.jobs (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
         VALUES ($1, 't', $2, $3, $4, to_timestamp($5 / 1000.0), 1, '1', now())`,
        [uuidv7(), queue, state, priority, runAt],
      )
    }
    const store = new PostgresStore({ url: PG_URL, schema, poolSize: 2 })
    try {
      expect((await store.migrate()).applied).toContain(4)
      expect(await store.jobCounts()).toEqual([
        { queue: 'a', state: 'completed', count: 1 },
        { queue: 'a', state: 'queued', count: 2 },
        { queue: 'b', state: 'running', count: 1 },
        { queue: 'b', state: 'scheduled', count: 1 },
      ])
      expect((await store.queueList()).map((queue) => [queue.queue, queue.oldestQueuedAt?.getTime()])).toEqual([
        ['a', 500],
        ['b', undefined],
      ])
    } finally {
      await store.close()
    }
  })
})

function jobAt(): JobInsert {
  return { id: uuidv7(), task: 't', queue: 'q', payload: '1', priority: 0, maxAttempts: 1 }
}
