import pg from 'pg'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, OFFLOAD_PG_SCHEMA, PG_URL } from '../workers/names.js'
import { OffloadStoreSystem } from './offload.js'
import { dropSchema, pgQuery, postgresVersion } from './postgres.js'
import type { ScenarioContext } from './system.js'

/** `PG_URL` with `?schema=`: how a user points Offload at a schema of their database. */
export function storeUrl(schema: string): string {
  const url = new URL(PG_URL)
  url.searchParams.set('schema', schema)
  return url.toString()
}

/**
 * Offload on PostgreSQL: `createOffload({ store: 'postgres://…?schema=bench_offload' })` with the
 * library's defaults, in a schema dropped and recreated for every step.
 */
export class OffloadPgSystem extends OffloadStoreSystem {
  readonly name = 'offload-pg'
  readonly title = 'Offload (PostgreSQL)'
  readonly durableAcks = 'yes: an enqueue resolves after its COMMIT returns (PostgreSQL with fsync and synchronous_commit on)'
  readonly settings = {
    store: `createOffload({ store: '${storeUrl(OFFLOAD_PG_SCHEMA)}', logger: false }), library defaults: pool of 10, NOTIFY debounce 5 ms; schema dropped and recreated per step`,
    enqueue: 'task.enqueue(payload); bulk: task.enqueueMany(items) (one INSERT … SELECT FROM unnest per call)',
    worker: this.workerSetting,
    http: this.httpSetting,
    wakeup: 'LISTEN/NOTIFY (the NOTIFY is sent inside the enqueue transaction)',
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  protected async freshStore(_ctx: ScenarioContext, _step: string): Promise<{ url: string; remove(): Promise<void> }> {
    await dropSchema(OFFLOAD_PG_SCHEMA)
    return { url: storeUrl(OFFLOAD_PG_SCHEMA), remove: () => dropSchema(OFFLOAD_PG_SCHEMA) }
  }
}

/**
 * `jobs` completed jobs in `schema`'s jobs table (migrated), as one `INSERT … SELECT generate_series`,
 * and in its job counts, which the store keeps as it writes (plain SQL must add to them itself).
 */
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
  await pgQuery(`INSERT INTO ${pg.escapeIdentifier(schema)}.queue_count_deltas (queue, state, delta) VALUES ($1, 'completed', $2)`, [OFFLOAD_QUEUE, jobs])
}
