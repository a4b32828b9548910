/**
 * Shapes of the PostgreSQL store's bulk INSERT, by hand on one connection, interleaved per round:
 * how a batch of jobs reaches the server (13 parallel arrays, one JSON document, two arrays and
 * scalars for what the batch shares) and what comes back (a row per job, or one summary row).
 * Each variant writes the job and its `enqueued` event under the event gate and notifies, as the
 * store does. Schema `bench_offload_shapes`, migrated by this checkout's store, dropped after.
 *
 *   npx tsx bench/experiments/pg-insert-shapes.ts [--rounds 5] [--batches 20] [--size 1000]
 *
 * Prints per variant the median ms per batch (awaited one after another; node-pg's serialising of
 * the parameters included) and the part of it spent building the parameters' JS values.
 */
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { PostgresStore } from '../../src/index.js'
import { uuidv7 } from '../../src/ids.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const ROUNDS = Number(option('--rounds', '5'))
const BATCHES = Number(option('--batches', '20'))
const SIZE = Number(option('--size', '1000'))
const URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SCHEMA = 'bench_offload_shapes'
const S = pg.escapeIdentifier(SCHEMA)
const AT = 'coalesce($1::timestamptz, now())'
const GATE = `, (SELECT pg_advisory_xact_lock_shared(1, 2)) AS gate`

interface Job {
  id: string
  task: string
  queue: string
  payload: string
  priority: number
  maxAttempts: number
}

/** The part every variant shares: insert from `timed` (one row per job with `due`), events, notify. */
const tail = (returning: 'rows' | 'summary'): string => `
  inserted AS (
    INSERT INTO ${S}.jobs (id, task, queue, state, priority, run_at, max_attempts, timeout_ms, backoff, key, key_ttl_ms, payload, metadata, created_at)
    SELECT id, task, queue, CASE WHEN due > ${AT} THEN 'scheduled' ELSE 'queued' END, priority, due, max_attempts, timeout_ms,
      backoff::json, key, key_ttl_ms, payload::json, metadata::json, ${AT}
    FROM timed ORDER BY ord
    RETURNING seq, id, state, queue, run_at
  ),
  events AS (
    INSERT INTO ${S}.events (job_seq, at, type, state, attempt)
    SELECT seq, ${AT}, 'enqueued', state, 0 FROM inserted${GATE} ORDER BY seq
  ),
  notified AS (
    SELECT count(pg_notify('offload.shapes', p)) AS n FROM (SELECT DISTINCT 'x|r|' || queue AS p FROM inserted WHERE state = 'queued') AS q
  )
  ${returning === 'rows'
    ? 'SELECT id, state, queue, run_at FROM inserted, notified'
    : `SELECT count(*) FILTER (WHERE state = 'scheduled') AS scheduled, min(run_at) FILTER (WHERE state = 'scheduled') AS due, max(n) AS n FROM inserted, notified`}`

const arrays13 = `WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::float8[], $8::int[],
      $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[]) WITH ORDINALITY
      AS i(id, task, queue, priority, run_at, delay_ms, max_attempts, timeout_ms, backoff, key, key_ttl_ms, payload, metadata, ord)
  ),
  timed AS (SELECT i.*, coalesce(i.run_at, ${AT} + coalesce(i.delay_ms, 0) * interval '1 millisecond') AS due FROM input i),`

const arrays13Values = (jobs: Job[]): unknown[] => [
  null,
  jobs.map((job) => job.id),
  jobs.map((job) => job.task),
  jobs.map((job) => job.queue),
  jobs.map((job) => job.priority),
  jobs.map(() => null),
  jobs.map(() => null),
  jobs.map((job) => job.maxAttempts),
  jobs.map(() => null),
  jobs.map(() => null),
  jobs.map(() => null),
  jobs.map(() => null),
  jobs.map((job) => job.payload),
  jobs.map(() => null),
]

/** The jobs of a JSON document as rows (`$2`), and their run times. */
const JSON_ROWS = `ROWS FROM (json_to_recordset($2::json) AS (id text, task text, queue text, priority int, run_at float8,
      delay_ms float8, max_attempts int, timeout_ms bigint, backoff text, key text, key_ttl_ms bigint, payload text, metadata text))
      WITH ORDINALITY AS i(id, task, queue, priority, run_at, delay_ms, max_attempts, timeout_ms, backoff, key, key_ttl_ms, payload, metadata, ord)`
const JSON_TIMED = `timed AS (
    SELECT i.*, CASE WHEN i.run_at IS NOT NULL THEN to_timestamp(i.run_at / 1000) ELSE ${AT} + coalesce(i.delay_ms, 0) * interval '1 millisecond' END AS due
    FROM input i
  ),`

/** Every column in one JSON document; the payload as a JSON string (json_to_recordset rejects `\u0000` in nested values). */
const json = `WITH input AS (
    SELECT * FROM ${JSON_ROWS}
  ),
  ${JSON_TIMED}`

const jsonValues = (jobs: Job[]): unknown[] => [
  null,
  JSON.stringify(jobs.map((job) => ({ id: job.id, task: job.task, queue: job.queue, priority: job.priority, max_attempts: job.maxAttempts, payload: job.payload }))),
]

/** Only what varies per job in JSON; task, queue, priority and max_attempts as scalars unless a job overrides them. */
const jsonLean = `WITH input AS (
    SELECT i.id, coalesce(i.task, $3) AS task, coalesce(i.queue, $4) AS queue, coalesce(i.priority, $5) AS priority, i.run_at, i.delay_ms,
      coalesce(i.max_attempts, $6) AS max_attempts, i.timeout_ms, i.backoff, i.key, i.key_ttl_ms, i.payload, i.metadata, i.ord
    FROM ${JSON_ROWS}
  ),
  ${JSON_TIMED}`

const jsonLeanValues = (jobs: Job[]): unknown[] => {
  let text = '['
  for (let i = 0; i < jobs.length; i++) text += `${i === 0 ? '' : ','}{"id":"${jobs[i]!.id}","payload":${JSON.stringify(jobs[i]!.payload)}}`
  return [null, text + ']', jobs[0]!.task, jobs[0]!.queue, jobs[0]!.priority, jobs[0]!.maxAttempts]
}

/** Ids and payloads as arrays, the rest as scalars (valid only when the batch shares them). */
const arrays2 = `WITH input AS (
    SELECT i.id, $4 AS task, $5 AS queue, $6::int AS priority, NULL::timestamptz AS run_at, NULL::float8 AS delay_ms, $7::int AS max_attempts,
      NULL::bigint AS timeout_ms, NULL::text AS backoff, NULL::text AS key, NULL::bigint AS key_ttl_ms, i.payload, NULL::text AS metadata, i.ord
    FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS i(id, payload, ord)
  ),
  timed AS (SELECT i.*, coalesce(i.run_at, ${AT} + coalesce(i.delay_ms, 0) * interval '1 millisecond') AS due FROM input i),`

const arrays2Values = (jobs: Job[]): unknown[] => [
  null,
  jobs.map((job) => job.id),
  jobs.map((job) => job.payload),
  jobs[0]!.task,
  jobs[0]!.queue,
  jobs[0]!.priority,
  jobs[0]!.maxAttempts,
]

const VARIANTS: Record<string, { text: string; values: (jobs: Job[]) => unknown[]; rows: boolean }> = {
  '13 arrays, a row per job back (as the store)': { text: arrays13 + tail('rows'), values: arrays13Values, rows: true },
  '13 arrays, one summary row back': { text: arrays13 + tail('summary'), values: arrays13Values, rows: false },
  'JSON, every column': { text: json + tail('summary'), values: jsonValues, rows: false },
  'JSON, varying columns + scalars': { text: jsonLean + tail('summary'), values: jsonLeanValues, rows: false },
  '2 arrays + scalars': { text: arrays2 + tail('summary'), values: arrays2Values, rows: false },
}

const median = (values: number[]): number => [...values].sort((x, y) => x - y)[values.length >> 1]!

const admin = new pg.Client({ connectionString: URL })
await admin.connect()
await admin.query(`DROP SCHEMA IF EXISTS ${S} CASCADE`)
const store = new PostgresStore({ url: URL, schema: SCHEMA })
await store.migrate()
await store.close()
const client = new pg.Client({ connectionString: URL })
await client.connect()
console.log(`load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
const total = new Map<string, number[]>()
const building = new Map<string, number[]>()
try {
  const names = Object.keys(VARIANTS)
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse()
    for (const name of order) {
      const variant = VARIANTS[name]!
      await admin.query(`TRUNCATE ${S}.jobs, ${S}.events`)
      let buildMs = 0
      const started = performance.now()
      for (let b = 0; b < BATCHES; b++) {
        const now = Date.now()
        const jobs: Job[] = Array.from({ length: SIZE }, (_, i) => ({
          id: uuidv7(now), task: 'bench.noop', queue: 'bench', payload: JSON.stringify({ i }), priority: 0, maxAttempts: 5,
        }))
        const built = performance.now()
        const values = variant.values(jobs)
        buildMs += performance.now() - built
        const result = await client.query({ name, text: variant.text, values }).catch((error: unknown) => {
          throw new Error(`${name}: ${String(error)} near «${variant.text.slice(Number((error as { position?: string }).position ?? 1) - 40, Number((error as { position?: string }).position ?? 1) + 20)}»`)
        })
        if (variant.rows && result.rows.length !== SIZE) throw new Error(`${name}: ${result.rows.length} rows`)
      }
      const ms = (performance.now() - started) / BATCHES
      total.set(name, [...(total.get(name) ?? []), ms])
      building.set(name, [...(building.get(name) ?? []), buildMs / BATCHES])
    }
    console.log(`round ${round + 1}, load ${loadavg()[0]!.toFixed(2)}`)
  }
  console.log(`\nms per batch of ${SIZE} (median of ${ROUNDS} rounds × ${BATCHES} batches) · of which building parameters in Node · jobs/s`)
  for (const name of Object.keys(VARIANTS)) {
    const ms = median(total.get(name)!)
    console.log(`  ${ms.toFixed(2).padStart(7)} ms  ${median(building.get(name)!).toFixed(2).padStart(5)} ms  ${((SIZE / ms) * 1000).toFixed(0).padStart(7)}/s  ${name}  [${total.get(name)!.map((v) => v.toFixed(1)).join(', ')}]`)
  }
} finally {
  await client.end()
  await admin.query(`DROP SCHEMA IF EXISTS ${S} CASCADE`)
  await admin.end()
}
