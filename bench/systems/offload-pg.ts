import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import pg from 'pg'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, OFFLOAD_PG_SCHEMA, PG_URL, PGBENCH_SCHEMA } from '../workers/names.js'
import { timeSequential } from '../lib/measure.js'
import { open, OffloadStoreSystem, type FreshStore } from './offload.js'
import { dropSchema, pgQuery, postgresVersion } from './postgres.js'
import type { DrainResult, HistoryPlan, RateResult, ScenarioContext } from './system.js'

const run = promisify(execFile)

/** `PG_URL` with `?schema=`: how a user points Offload at a schema of their database. */
export function storeUrl(schema: string): string {
  const url = new URL(PG_URL)
  url.searchParams.set('schema', schema)
  return url.toString()
}

/** pgbench from PATH, else from the server packages' folder (Debian keeps it there too). */
function findPgbench(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench')
  }
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
  return versions.map((version) => join(root, version, 'bin', 'pgbench')).find((path) => existsSync(path))
}

/**
 * Offload on PostgreSQL: `createOffload({ store: 'postgres://…?schema=bench_offload' })` with the
 * library's defaults, in a schema dropped and recreated for every scenario.
 */
export class OffloadPgSystem extends OffloadStoreSystem {
  readonly name = 'offload-pg'
  readonly title = 'Offload (PostgreSQL)'
  readonly durableAcks = 'yes: an enqueue resolves after its COMMIT returns (PostgreSQL with fsync and synchronous_commit on)'
  readonly server = 'postgres'
  readonly settings = {
    store: `createOffload({ store: '${storeUrl(OFFLOAD_PG_SCHEMA)}', logger: false }), library defaults: pool of 10, NOTIFY debounce 5 ms; schema dropped and recreated per scenario`,
    bulk: 'task.enqueueMany(chunk) (one INSERT … SELECT FROM unnest per chunk), chunks awaited one after another',
    drain: 'child process: offload.work({ concurrency: 50, handleSignals: false }) (batchSize = concurrency, maintenance on)',
    sequential: `await task.enqueue(payload), one at a time; judged against pgbench -c 1 -j 1 -M prepared committing one INSERT per transaction into a scratch table (schema ${PGBENCH_SCHEMA}), run just before, and shown against node-pg committing the same INSERT`,
    latency: 'worker in the same process, work({ concurrency: 50 }); woken by the in-process note the store emits after its INSERT',
    wakeup: 'producer in the bench process, worker in a child on the same schema; woken by LISTEN/NOTIFY (NOTIFY sent inside the INSERT)',
    history: `${OFFLOAD_PG_SCHEMA}.jobs filled with finished jobs by one INSERT … SELECT generate_series (completed, finished over the last 23 h, inside the 24 h retention; no events rows), VACUUM ANALYZE, then the drain scenario`,
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  protected async freshStore(_ctx: ScenarioContext, _scenario: string): Promise<FreshStore> {
    await dropSchema(OFFLOAD_PG_SCHEMA)
    return { url: storeUrl(OFFLOAD_PG_SCHEMA), remove: () => dropSchema(OFFLOAD_PG_SCHEMA) }
  }

  /**
   * One client committing one INSERT of a small JSON row per transaction, into a table made for it
   * and dropped after: the floor under any store that commits once per awaited enqueue. Measured
   * twice: by pgbench (C, prepared — Offload prepares its statements too; the reference)
   * and by node-pg awaiting each insert (the same statement, the floor for a Node client).
   */
  async sequentialReferences(ctx: ScenarioContext): Promise<RateResult[]> {
    const pgbench = findPgbench()
    if (pgbench === undefined) throw new Error('pgbench not found (PATH, /usr/lib/postgresql/*/bin): install the postgresql client package')
    const seconds = ctx.quick ? 2 : 5
    const script = join(ctx.tmpDir, 'pgbench-insert.sql')
    const table = `${pg.escapeIdentifier(PGBENCH_SCHEMA)}.t`
    const insert = `INSERT INTO ${table} (payload) VALUES (json_build_object('i', $1::int))`
    await writeFile(script, `\\set i random(1, 1000000)\n${insert.replace('$1', ':i')};\n`)
    await dropSchema(PGBENCH_SCHEMA)
    await pgQuery(`CREATE SCHEMA ${pg.escapeIdentifier(PGBENCH_SCHEMA)}`)
    await pgQuery(`CREATE TABLE ${table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload json NOT NULL)`)
    try {
      const args = ['-n', '-c', '1', '-j', '1', '-T', String(seconds), '-M', 'prepared', '-f', script, PG_URL]
      const { stdout } = await run(pgbench, args, { timeout: (seconds + 30) * 1000 })
      const tps = Number(/^tps = ([\d.]+) \(without initial connection time\)/m.exec(stdout)?.[1])
      const transactions = Number(/^number of transactions actually processed: (\d+)/m.exec(stdout)?.[1])
      if (!Number.isFinite(tps) || !Number.isFinite(transactions)) throw new Error(`pgbench printed no tps:\n${stdout}`)
      const viaPgbench: RateResult = {
        variant: `pgbench -c 1 -j 1 -T ${seconds} -M prepared: one INSERT per transaction (tps without connection time)`,
        jobs: transactions,
        ms: (transactions / tps) * 1000,
        rate: tps,
        partial: false,
        reference: 'pgbench',
      }
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      try {
        const statement = { name: 'bench_insert', text: insert }
        for (let i = 0; i < 50; i++) await client.query({ ...statement, values: [i] })
        const viaNode = await timeSequential('node-pg, one client awaiting each prepared INSERT (the same statement)', ctx.quick ? 1_000 : 5_000, seconds * 1000, (i) =>
          client.query({ ...statement, values: [i] }),
        )
        return [viaPgbench, { ...viaNode, reference: 'node-pg' }]
      } finally {
        await client.end()
      }
    } finally {
      await dropSchema(PGBENCH_SCHEMA)
    }
  }

  /**
   * The drain on an empty schema, then on one holding `plan.finishedJobs` finished jobs. The
   * history goes straight into the store's jobs table in one statement, shaped like the rows a
   * real drain leaves (completed, attempt 1, result null, uuidv7-like ids in time order, finished
   * within the last 23 hours so the 24 h retention keeps them all); no events rows, since the claim
   * and completion paths never read events. VACUUM ANALYZE then leaves the table as autovacuum
   * would after a quiet spell.
   */
  async history(ctx: ScenarioContext, plan: HistoryPlan, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const variant = (what: string): string => `work({ concurrency: ${concurrency} }), ${what}`
    const rows: DrainResult[] = []
    let store = await this.freshStore(ctx, 'history')
    try {
      rows.push(await this.drainStore(ctx, store.url, plan.drainJobs, concurrency, timeLimitMs, variant('empty table'), 'history-empty'))
    } finally {
      await store.remove()
    }
    store = await this.freshStore(ctx, 'history')
    try {
      const { offload } = await open(store.url)
      await offload.close()
      const started = performance.now()
      await fillHistory(OFFLOAD_PG_SCHEMA, plan.finishedJobs)
      const filledMs = performance.now() - started
      await pgQuery(`VACUUM ANALYZE ${pg.escapeIdentifier(OFFLOAD_PG_SCHEMA)}.jobs`)
      const vacuumMs = performance.now() - started - filledMs
      const kept = `${plan.finishedJobs.toLocaleString('en-US')} finished jobs kept`
      ctx.log(`    ${kept}: filled in ${(filledMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(vacuumMs / 1000).toFixed(1)} s`)
      const row = await this.drainStore(ctx, store.url, plan.drainJobs, concurrency, timeLimitMs, variant(kept), 'history-kept')
      row.notes = [...(row.notes ?? []), `history filled in ${(filledMs / 1000).toFixed(1)} s, VACUUM ANALYZE in ${(vacuumMs / 1000).toFixed(1)} s (untimed)`]
      rows.push(row)
    } finally {
      await store.remove()
    }
    return rows
  }
}

/** `jobs` completed jobs in `schema`'s jobs table (migrated), as one `INSERT … SELECT generate_series`. */
export async function fillHistory(schema: string, jobs: number): Promise<void> {
  // Column list from src/store/postgres/migrations.ts (version 1); the rest keep their defaults or NULL.
  await pgQuery(
    `INSERT INTO ${pg.escapeIdentifier(schema)}.jobs
       (id, task, queue, state, priority, run_at, attempt, max_attempts, lease, payload, result, created_at, started_at, finished_at)
     SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12),
       $1, $2, 'completed', 0, t, 1, 5, 1, json_build_object('i', g), 'null'::json, t, t + interval '1 millisecond', t + interval '2 milliseconds'
     FROM generate_series(1, $3::int) AS g
       CROSS JOIN LATERAL (SELECT now() - interval '23 hours' + (g - 1) * (interval '23 hours' / $3::int) AS t) AS times
       CROSS JOIN LATERAL (SELECT lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') AS h, md5(g::text) AS r) AS bits
     ORDER BY g`,
    [OFFLOAD_TASK, OFFLOAD_QUEUE, jobs],
  )
}
