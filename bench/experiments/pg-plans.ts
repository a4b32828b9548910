/**
 * Whether the PostgreSQL store's hot statements run on a cached generic plan or are planned afresh
 * on every execution (a custom plan, which for these many-CTE statements costs the server about as
 * much as running them). A store with one connection drains jobs in batches of `--batch`, as a
 * worker does (claim, then complete what it claimed), then reads `pg_prepared_statements` on that
 * very connection. Schema `bench_offload_plans`, dropped after.
 *
 *   npx tsx bench/experiments/pg-plans.ts [--jobs 5000] [--batch 10]
 */
import type pg from 'pg'
import { PostgresStore } from '../../src/index.js'
import { uuidv7 } from '../../src/ids.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const JOBS = Number(option('--jobs', '5000'))
const BATCH = Number(option('--batch', '10'))
const URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_offload_plans'

const store = new PostgresStore({ url: URL, schema: SCHEMA, poolSize: 1 })
// The store's own pool, for reading the session's prepared statements: experiments only.
const pool = (store as unknown as { pool: pg.Pool }).pool
try {
  await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  await store.migrate()
  for (let first = 0; first < JOBS; first += 1000) {
    const jobs = Array.from({ length: Math.min(1000, JOBS - first) }, (_, i) => ({
      id: uuidv7(), task: 'bench.noop', queue: 'bench', payload: JSON.stringify({ i: first + i }), priority: 0, maxAttempts: 5,
    }))
    await store.jobInsertMany({ jobs })
  }
  for (;;) {
    const claimed = await store.jobClaim({ queues: ['bench'], workerId: 'w', limit: BATCH, leaseMs: 15_000 })
    if (claimed.length === 0) break
    await store.jobFinishMany({ finishes: claimed.map((job) => ({ id: job.id, lease: job.lease, outcome: 'completed' as const, result: 'null' })) })
  }
  const { rows } = await pool.query<{ name: string; generic_plans: number; custom_plans: number; statement: string }>(
    `SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements ORDER BY name`,
  )
  console.log(`${JOBS} jobs drained in batches of ${BATCH} on one connection: executions on a generic plan / planned afresh`)
  for (const row of rows) {
    console.log(`  ${String(row.generic_plans).padStart(6)} / ${String(row.custom_plans).padEnd(6)} ${row.name.padEnd(12)} ${row.statement.replace(/\s+/g, ' ').slice(0, 90)}`)
  }
} finally {
  await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  await store.close()
}
