/**
 * Where Offload's PostgreSQL store spends its time, on the store's own schema (`bench_offload_exp`,
 * dropped before and after): evidence for suggestions to src/store/postgres, not part of `npm run bench`.
 *
 *   npx tsx bench/experiments/pg-costs.ts [--part enqueue,wake,drain,midway,explain,prune,history]
 *     [--history 1000000] [--jobs 20000] [--rounds 3] [--pending 50] [--variants <label parts>]
 *
 * enqueue  One awaited single-job enqueue at a time, µs per commit: through Offload's task.enqueue
 *          and PostgresStore.jobInsertMany, then by hand on one node-pg connection — the same row
 *          and its event written by a plain INSERT … VALUES (no unnest, no notify), that plus
 *          pg_notify, and a bare INSERT into a two-column table (what pgbench's reference commits).
 *          Variants interleave per round.
 * wake     The two commits in series on an enqueue → handler path, through the store one job at a
 *          time: the enqueue's, then the claim's (p50 / p90 / p99).
 * drain    The drain's store work through PostgresStore, as the worker overlaps it (claim 50 while
 *          the previous 50 complete), on an empty jobs table (also without the claim's and the
 *          completion's event rows, to size the event log's cost) and on one holding --history
 *          finished jobs: jobs/s, and ms per claim and per completion statement.
 * midway   Half a drain through the store, then the plans (custom and generic) of a completion and a
 *          heartbeat with --pending jobs left running (default 50; a worker that claims ahead of
 *          its unwritten outcomes leaves thousands), on an empty table and on one with history.
 * explain  EXPLAIN (ANALYZE, BUFFERS) of the claim, the completion and the prune exactly as the store
 *          sends them (captured from pg), on the table with history; and the prune's time.
 * prune    The prune's time on the table with history, as migrated and with the index suggested for
 *          it — `(state, finished_at) WHERE state IN (finished states)` — created from outside.
 * history  The bench's history drain end to end (pg-drain-worker.ts: workers/offload.ts's worker
 *          process, maintenance on, with one change applied from outside per variant), interleaved
 *          per round: empty table; history as is, with the prune fix (index + victims by finished_at),
 *          with claims held back while 100 outcomes are unwritten, with custom plans only, with both
 *          fixes, and with the completion's and heartbeat's state fence as a parameter (alone and with
 *          the prune fix). Prints each variant's largest and slowest completion batch.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { PostgresStore } from '../../src/index.js'
import { uuidv7 } from '../../src/ids.js'
import { median } from '../lib/stats.js'
import { dropSchema, pgQuery } from '../systems/postgres.js'
import { drainInChild } from '../lib/measure.js'
import { fill, open } from '../systems/offload.js'
import { fillHistory, storeUrl } from '../systems/offload-pg.js'
import type { ScenarioContext } from '../systems/system.js'
import { onStoreQuery, pruneByAge, withoutEvents } from './store-pg.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, PG_URL } from '../workers/names.js'

const SCHEMA = 'bench_offload_exp'
const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const PARTS = option('--part', 'enqueue,wake,drain,midway,explain,prune,history').split(',')
const HISTORY = Number(option('--history', '1000000'))
const JOBS = Number(option('--jobs', '20000'))
const ROUNDS = Number(option('--rounds', '3'))
const BATCH = 50
/** midway: jobs claimed and left running before the plans are shown. */
const PENDING = Number(option('--pending', String(BATCH)))
/** history: only the variants whose label contains one of these (comma-separated). */
const ONLY = args.includes('--variants') ? option('--variants', '').split(',') : undefined
const table = `${pg.escapeIdentifier(SCHEMA)}.jobs`

/** Every statement the store sends, by text, with the values of its latest call: for EXPLAIN. */
const sent = new Map<string, unknown[]>()
onStoreQuery((config) => {
  sent.set(config.text, config.values ?? [])
  return dropEvents ? withoutEvents(config) : config
})

async function freshStore(): Promise<PostgresStore> {
  await dropSchema(SCHEMA)
  const store = new PostgresStore({ url: PG_URL, schema: SCHEMA })
  await store.migrate()
  return store
}

function job(i: number): Parameters<PostgresStore['jobInsertMany']>[0]['jobs'][number] {
  return { id: uuidv7(), task: OFFLOAD_TASK, queue: OFFLOAD_QUEUE, payload: JSON.stringify({ i }), priority: 0, maxAttempts: 5 }
}

// ─── enqueue ────────────────────────────────────────────────────────────────────────────────────

async function enqueueCosts(): Promise<void> {
  const n = 2_000
  const store = await freshStore()
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  await client.query(`CREATE TABLE ${pg.escapeIdentifier(SCHEMA)}.bare (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload json NOT NULL)`)
  const plain = (notify: boolean): string => `WITH j AS (
      INSERT INTO ${table} (id, task, queue, state, priority, run_at, max_attempts, payload, created_at)
      VALUES ($1, $2, $3, 'queued', 0, now(), 5, $4::json, now()) RETURNING seq, id, state
    ), e AS (
      INSERT INTO ${pg.escapeIdentifier(SCHEMA)}.events (job_seq, at, type, state, attempt)
      SELECT seq, now(), 'enqueued', state, 0 FROM j, (SELECT pg_advisory_xact_lock_shared(1, 2)) AS l
    )${notify ? `, n AS (SELECT pg_notify('offload.${SCHEMA}', 'x|r|' || $3)) SELECT j.id FROM j, n` : ' SELECT id FROM j'}`
  const { offload, task } = await open(storeUrl(SCHEMA))
  const variants: Record<string, (i: number) => Promise<unknown>> = {
    'Offload task.enqueue (what the bench times)': (i) => task.enqueue({ i }),
    'PostgresStore.jobInsertMany (1 job)': (i) => store.jobInsertMany({ jobs: [job(i)] }),
    'INSERT … VALUES, job + event': (i) =>
      client.query({ name: 'plain', text: plain(false), values: [uuidv7(), OFFLOAD_TASK, OFFLOAD_QUEUE, JSON.stringify({ i })] }),
    'INSERT … VALUES, job + event + pg_notify': (i) =>
      client.query({ name: 'plain-notify', text: plain(true), values: [uuidv7(), OFFLOAD_TASK, OFFLOAD_QUEUE, JSON.stringify({ i })] }),
    'bare INSERT (pgbench-like)': (i) =>
      client.query({ name: 'bare', text: `INSERT INTO ${pg.escapeIdentifier(SCHEMA)}.bare (payload) VALUES (json_build_object('i', $1::int))`, values: [i] }),
  }
  const results = new Map<string, number[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(variants)) {
      for (let i = 0; i < 50; i++) await run(i) // warm: statements prepared, pool connected
      const started = performance.now()
      for (let i = 0; i < n; i++) await run(i)
      const us = ((performance.now() - started) * 1000) / n
      results.set(name, [...(results.get(name) ?? []), us])
    }
  }
  console.log(`\nenqueue: µs per awaited single-job commit (median of ${ROUNDS} rounds × ${n}; each round's figure)`)
  for (const [name, values] of results) console.log(`  ${median(values).toFixed(0).padStart(6)} µs  ${(1e6 / median(values)).toFixed(0).padStart(6)}/s  ${name}  [${values.map((v) => v.toFixed(0)).join(', ')}]`)
  await client.end()
  await offload.close()
  await store.close()
}

// ─── wake ───────────────────────────────────────────────────────────────────────────────────────

/**
 * The two commits in series on every enqueue → handler path, one job at a time through the store:
 * the enqueue, then the claim an idle worker makes when it hears of it (limit 50, as a worker at
 * concurrency 50 asks), then its completion (off the path, but it keeps the table as a drain does).
 */
async function wakeCosts(): Promise<void> {
  const store = await freshStore()
  const inserts: number[] = []
  const claims: number[] = []
  for (let i = 0; i < 1_050; i++) {
    const started = performance.now()
    await store.jobInsertMany({ jobs: [job(i)] })
    const inserted = performance.now()
    const [claimed] = await store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })
    const done = performance.now()
    await store.jobFinishMany({ finishes: [{ id: claimed!.id, lease: claimed!.lease, outcome: 'completed', result: 'null' }] })
    if (i < 50) continue
    inserts.push(inserted - started)
    claims.push(done - inserted)
  }
  const p = (values: number[], q: number): string => [...values].sort((a, b) => a - b)[Math.floor(values.length * q)]!.toFixed(3)
  console.log(`\nwake path through the store, one job at a time (1,000 after 50 warm-ups): ms p50 / p90 / p99`)
  console.log(`  enqueue commit (jobInsertMany, 1 job): ${p(inserts, 0.5)} / ${p(inserts, 0.9)} / ${p(inserts, 0.99)}`)
  console.log(`  claim commit (jobClaim, limit ${BATCH}):    ${p(claims, 0.5)} / ${p(claims, 0.9)} / ${p(claims, 0.99)}`)
  await store.close()
}

// ─── drain ──────────────────────────────────────────────────────────────────────────────────────

interface DrainCost {
  rate: number
  claimMs: number
  completeMs: number
}

async function drainThroughStore(store: PostgresStore, jobs: number): Promise<DrainCost> {
  for (let first = 0; first < jobs; first += 10_000) {
    await store.jobInsertMany({ jobs: Array.from({ length: Math.min(10_000, jobs - first) }, (_, k) => job(first + k)) })
  }
  const claims: number[] = []
  const completes: number[] = []
  const timed = async <T>(into: number[], op: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    const result = await op()
    into.push(performance.now() - started)
    return result
  }
  const started = performance.now()
  let previous: { id: string; lease: number }[] = []
  let done = 0
  for (;;) {
    // As the worker does: the previous batch's completions and the next claim at the same time.
    const [claimed] = await Promise.all([
      timed(claims, () => store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })),
      previous.length === 0
        ? Promise.resolve()
        : timed(completes, () => store.jobFinishMany({ finishes: previous.map((j) => ({ ...j, outcome: 'completed' as const, result: 'null' })) })),
    ])
    done += previous.length
    if (claimed.length === 0) break
    previous = claimed.map((j) => ({ id: j.id, lease: j.lease }))
  }
  const ms = performance.now() - started
  if (done !== jobs) throw new Error(`store drain finished ${done} of ${jobs}`)
  return { rate: (jobs / ms) * 1000, claimMs: median(claims), completeMs: median(completes) }
}

async function withHistory(): Promise<PostgresStore> {
  const store = await freshStore()
  const started = performance.now()
  await fillHistory(SCHEMA, HISTORY)
  await pgQuery(`VACUUM ANALYZE ${table}`)
  console.log(`  (history: ${HISTORY.toLocaleString('en-US')} finished jobs filled and vacuumed in ${((performance.now() - started) / 1000).toFixed(1)} s)`)
  return store
}

/** Set while the drain part measures the claim and completion without their event rows. */
let dropEvents = false

async function drainCosts(): Promise<void> {
  console.log(`\ndrain through PostgresStore: ${JOBS.toLocaleString('en-US')} jobs, claim ${BATCH} overlapped with completing ${BATCH}`)
  const rows: Record<string, DrainCost[]> = { empty: [], 'empty, no event rows': [], history: [] }
  for (let round = 0; round < ROUNDS; round++) {
    let store = await freshStore()
    rows.empty!.push(await drainThroughStore(store, JOBS))
    await store.close()
    store = await freshStore()
    dropEvents = true
    rows['empty, no event rows']!.push(await drainThroughStore(store, JOBS))
    dropEvents = false
    await store.close()
    store = await withHistory()
    rows.history!.push(await drainThroughStore(store, JOBS))
    await store.close()
  }
  for (const [name, costs] of Object.entries(rows)) {
    console.log(
      `  ${name.padEnd(21)} ${median(costs.map((c) => c.rate)).toFixed(0).padStart(6)} jobs/s  claim ${median(costs.map((c) => c.claimMs)).toFixed(2)} ms, ` +
        `complete ${median(costs.map((c) => c.completeMs)).toFixed(2)} ms (medians)  [${costs.map((c) => c.rate.toFixed(0)).join(', ')}]`,
    )
  }
}

// ─── explain ────────────────────────────────────────────────────────────────────────────────────

async function explain(client: pg.Client, title: string, text: string, values: unknown[]): Promise<void> {
  await client.query('BEGIN')
  try {
    const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values)
    console.log(`\n── ${title}\n${plan.rows.map((row) => row['QUERY PLAN']).join('\n')}`)
  } finally {
    await client.query('ROLLBACK')
  }
}

function captured(starting: string): [string, unknown[]] {
  const entry = [...sent].find(([text]) => text.trimStart().startsWith(starting))
  if (entry === undefined) throw new Error(`no statement starting '${starting}' was sent`)
  return entry
}

async function explainHistory(): Promise<void> {
  console.log(`\nexplain: ${HISTORY.toLocaleString('en-US')} finished jobs kept, ${JOBS.toLocaleString('en-US')} queued`)
  const store = await withHistory()
  await store.jobInsertMany({ jobs: Array.from({ length: JOBS }, (_, k) => job(k)) })
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    // One real claim and completion, so their statements are captured with realistic values.
    const claimed = await store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })
    const [claimText, claimValues] = captured('WITH picked AS')
    await explain(client, 'claim (50)', claimText, claimValues)
    const finishes = claimed.map((j) => ({ id: j.id, lease: j.lease, outcome: 'completed' as const, result: 'null' }))
    sent.clear()
    await store.jobFinishMany({ finishes })
    const [completeText] = captured('WITH input AS')
    // Claim again (rolled back above) so the completion has running jobs to complete.
    const again = await store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })
    await explain(client, 'complete (50)', completeText, [null, again.map((j) => j.id), again.map((j) => j.lease), again.map(() => 'null')])
    const started = performance.now()
    const pruned = await store.jobPrune(PRUNE)
    console.log(`\nprune with 24 h retention: ${pruned} deleted in ${(performance.now() - started).toFixed(1)} ms`)
    const [pruneText, pruneValues] = captured('WITH victims AS')
    await explain(client, 'prune (nothing old enough: every job finished within 23 h)', pruneText, pruneValues)
  } finally {
    await client.end()
    await store.close()
  }
}

// ─── midway ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Half a drain through the store (sequential claim → complete, no overlap), timing every completion,
 * then the plans of the completion and the heartbeat for 50 freshly claimed jobs: what a worker's
 * statements meet halfway through a drain, when the lease index holds the drained half's entries.
 */
async function midway(label: string, store: PostgresStore): Promise<void> {
  await store.jobInsertMany({ jobs: Array.from({ length: JOBS }, (_, k) => job(k)) })
  const times: number[] = []
  for (let done = 0; done < JOBS / 2; done += BATCH) {
    const claimed = await store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })
    const started = performance.now()
    await store.jobFinishMany({ finishes: claimed.map((j) => ({ id: j.id, lease: j.lease, outcome: 'completed' as const, result: 'null' })) })
    times.push(performance.now() - started)
  }
  const tenth = Math.max(1, Math.floor(times.length / 10))
  const slice = (from: number): string => median(times.slice(from, from + tenth)).toFixed(2)
  console.log(`
midway, ${label}: ms per completion of ${BATCH}, first / middle / last tenth of ${times.length}: ${slice(0)} / ${slice(Math.floor(times.length / 2))} / ${slice(times.length - tenth)}`)
  // As a worker that claims ahead of its unwritten outcomes leaves it: many jobs running at once.
  const claimed: Awaited<ReturnType<PostgresStore['jobClaim']>> = []
  while (claimed.length < PENDING) claimed.push(...(await store.jobClaim({ queues: [OFFLOAD_QUEUE], workerId: 'w', limit: BATCH, leaseMs: 15_000 })))
  sent.clear()
  await store.jobHeartbeat({ leases: claimed.map((j) => ({ id: j.id, lease: j.lease })), leaseMs: 15_000 })
  const [heartbeatText, heartbeatValues] = captured('WITH input AS')
  await store.jobFinishMany({ finishes: claimed.slice(0, 1).map((j) => ({ id: j.id, lease: j.lease, outcome: 'completed' as const, result: 'null' })) })
  const [completeText] = [...sent].find(([text]) => text !== heartbeatText && text.trimStart().startsWith('WITH input AS'))!
  const rest = claimed.slice(1, 2_001)
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    // Prepared, as the store's statements are: a prepared statement may run a custom plan (made
    // for its values) or, after five runs, the generic one; show both.
    await client.query(`PREPARE complete AS ${completeText}`)
    // EXECUTE takes literals, not the outer statement's parameters.
    const texts = (items: string[]): string => `ARRAY[${items.map((item) => client.escapeLiteral(item)).join(', ')}]::text[]`
    const args = `NULL, ${texts(rest.map((j) => j.id))}, ARRAY[${rest.map((j) => j.lease).join(', ')}]::int[], ${texts(rest.map(() => 'null'))}`
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await client.query(`SET plan_cache_mode = ${mode}`)
      await explain(client, `completion of ${rest.length}, ${claimed.length - 1} running (${mode})`, `EXECUTE complete(${args})`, [])
    }
    // A candidate fix: the state compared with a parameter, which a generic plan cannot match to
    // the partial lease index, so the rows are found through jobs_id_key whatever the statistics say.
    const fence = "FROM input WHERE j.id = input.id AND j.lease = input.lease AND j.state = 'running'"
    if (!completeText.includes(fence)) throw new Error('the completion statement changed: update the midway experiment')
    await client.query(`PREPARE complete_param AS ${completeText.replace(fence, fence.replace("'running'", 'ANY($5::text[])'))}`)
    await explain(client, `completion of ${rest.length}, ${claimed.length - 1} running (force_generic_plan, state = ANY($5))`, `EXECUTE complete_param(${args}, ARRAY['running'])`, [])
    await client.query('RESET plan_cache_mode')
    await explain(client, `heartbeat of ${claimed.length}, ${claimed.length} running`, heartbeatText, heartbeatValues)
  } finally {
    await client.end()
  }
}

async function midwayCosts(): Promise<void> {
  let store = await freshStore()
  await midway('empty table', store)
  await store.close()
  store = await withHistory()
  await midway(`${HISTORY.toLocaleString('en-US')} finished jobs kept`, store)
  await store.close()
}

// ─── prune, history ─────────────────────────────────────────────────────────────────────────────

/** The suggestion for src/store/postgres/migrations.ts, applied from outside. */
const FINISHED_AT_INDEX = `CREATE INDEX jobs_finished_at ON ${table} (state, finished_at) WHERE state IN ('completed', 'failed', 'cancelled')`
const DAY = 24 * 3_600_000
const PRUNE = { olderThanMs: { completed: DAY, failed: 7 * DAY, cancelled: DAY }, limit: 1000 }

/** Median of 10 calls: more than 5, so a prepared statement has moved to its generic plan if it will. */
async function medianMs(op: () => Promise<unknown>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < 10; i++) {
    const started = performance.now()
    await op()
    times.push(performance.now() - started)
  }
  return median(times)
}

async function pruneCosts(): Promise<void> {
  console.log(`\nprune (24 h retention, nothing old enough), ${HISTORY.toLocaleString('en-US')} finished jobs kept: median of 10 calls`)
  const store = await withHistory()
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    console.log(`  as migrated:                                   ${(await medianMs(() => store.jobPrune(PRUNE))).toFixed(2)} ms`)
    await pgQuery(FINISHED_AT_INDEX)
    await pgQuery(`ANALYZE ${table}`)
    console.log(`  + jobs_finished_at index, same SQL:            ${(await medianMs(() => store.jobPrune(PRUNE))).toFixed(2)} ms`)
    // The store's statement with the victims picked oldest first, prepared like the store's.
    const [text, values] = captured('WITH victims AS')
    const byAge = pruneByAge({ name: 'prune-by-age', text, values })
    const ms = await medianMs(() => client.query(byAge))
    console.log(`  + jobs_finished_at index, ORDER BY finished_at: ${ms.toFixed(2)} ms`)
  } finally {
    await client.end()
    await store.close()
  }
}

interface DrainStats {
  finishBatches: { size: number; ms: number }[]
  unfinishedPeak: number
}

async function historyEndToEnd(): Promise<void> {
  const ctx: ScenarioContext = { quick: false, tmpDir: tmpdir(), profileDir: undefined, runId: 'pg-costs', log: () => {} }
  const url = storeUrl(SCHEMA)
  const statsFile = join(tmpdir(), `pg-costs-${process.pid}.json`)
  const history = async (): Promise<void> => {
    await fillHistory(SCHEMA, HISTORY)
    await pgQuery(`VACUUM ANALYZE ${table}`)
  }
  const withIndex = async (): Promise<void> => {
    await pgQuery(FINISHED_AT_INDEX)
    await history()
  }
  const kept = `${HISTORY.toLocaleString('en-US')} kept`
  type Variant = [string, () => Promise<void>, Record<string, string | number | boolean>]
  const all: Variant[] = [
    ['empty table, as is', async () => {}, {}],
    [`${kept}, as is`, history, {}],
    [`${kept}, prune by finished_at + index`, withIndex, { pruneByAge: true }],
    [`${kept}, claims wait while ≥ 100 outcomes unwritten`, history, { backpressure: 100 }],
    [`${kept}, custom plans only`, history, { customPlans: true }],
    [`${kept}, prune fix + claims wait`, withIndex, { pruneByAge: true, backpressure: 100 }],
    [`${kept}, fence state as a parameter`, history, { stateAsParameter: true }],
    [`${kept}, fence state as a parameter + prune fix`, withIndex, { stateAsParameter: true, pruneByAge: true }],
  ]
  const variants = all.filter(([label]) => ONLY === undefined || ONLY.some((part) => label.includes(part)))
  const rows = new Map<string, { rate: number; partial: boolean; stats: DrainStats }[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, prepare, options] of variants) {
      await dropSchema(SCHEMA)
      const { offload, task } = await open(url)
      try {
        await prepare()
        await fill(task, JOBS)
      } finally {
        await offload.close()
      }
      const config = { mode: 'drain' as const, jobs: JOBS, concurrency: 50, options: { store: url, statsFile, ...options } }
      rmSync(statsFile, { force: true })
      const result = await drainInChild(ctx, label, 'bench/experiments/pg-drain-worker.ts', config, 30_000)
      // A worker killed on its way out (a cut run) writes none.
      const stats = existsSync(statsFile) ? (JSON.parse(readFileSync(statsFile, 'utf8')) as DrainStats) : { finishBatches: [], unfinishedPeak: NaN }
      rows.set(label, [...(rows.get(label) ?? []), { rate: result.rate, partial: result.partial, stats }])
      console.log(`  round ${round + 1}: ${label}: ${result.rate.toFixed(0)} jobs/s${result.partial ? ' (cut at 30 s: not all completed)' : ''}`)
    }
  }
  console.log(`\nhistory drain end to end (one worker process, concurrency 50, ${JOBS.toLocaleString('en-US')} jobs), median of ${ROUNDS} [each round];`)
  console.log('  largest completion batch (jobs, ms) and peak of claimed jobs without a written outcome, in the median round')
  for (const [label, runs] of rows) {
    const mid = [...runs].sort((a, b) => a.rate - b.rate)[runs.length >> 1]!
    const biggest = mid.stats.finishBatches.reduce((top, batch) => (batch.size > top.size ? batch : top), { size: 0, ms: 0 })
    const slowest = mid.stats.finishBatches.reduce((top, batch) => (batch.ms > top.ms ? batch : top), { size: 0, ms: 0 })
    console.log(
      `  ${median(runs.map((r) => r.rate)).toFixed(0).padStart(6)} jobs/s  ${label}  [${runs.map((r) => r.rate.toFixed(0) + (r.partial ? ' cut' : '')).join(', ')}]` +
        `  batches: largest ${biggest.size} (${biggest.ms.toFixed(0)} ms), slowest ${slowest.size} (${slowest.ms.toFixed(0)} ms); unfinished peak ${mid.stats.unfinishedPeak}`,
    )
  }
}

try {
  if (PARTS.includes('enqueue')) await enqueueCosts()
  if (PARTS.includes('wake')) await wakeCosts()
  if (PARTS.includes('drain')) await drainCosts()
  if (PARTS.includes('explain')) await explainHistory()
  if (PARTS.includes('midway')) await midwayCosts()
  if (PARTS.includes('prune')) await pruneCosts()
  if (PARTS.includes('history')) await historyEndToEnd()
} finally {
  await dropSchema(SCHEMA)
}
