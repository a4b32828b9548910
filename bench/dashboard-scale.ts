/**
 * The dashboard's overview at scale (issue 6: "with 1,000,000 jobs in the store the overview renders
 * in under 1 s and its refresh does not scan the jobs table"). Fills a fresh store, then times what
 * the overview's refresh costs: `queueList()` (and `jobCounts()`, which metrics read), and
 * `GET /v1/queues` and `GET /v1/queues/activity` through the HTTP API's `inject` — p50 and max of
 * `--calls` calls each, after one untimed warm-up call. Beside them, the full-scan `GROUP BY` the
 * stores ran before they kept counts, on the same data, for reference.
 *
 * Two shapes: `mixed` spreads the jobs over four queues and every state (a store with history),
 * `queued` puts them all in one queue, queued, over five priorities (the head-age skip-scan's
 * worst case: the most index entries per queue). The fixture is written fast rather than through
 * the runtime: `jobInsertMany` in batches of 10,000 (queued and scheduled jobs), then plain SQL
 * moving ranges of them to the other states and recounting the store's counts, as migrating an
 * existing database would; then some real claims and finishes through the store, so PostgreSQL
 * also has count deltas not yet folded, as it would between two folds.
 *
 *   npx tsx bench/dashboard-scale.ts [--store sqlite|postgres] [--jobs 1000000] [--shape mixed|queued] [--calls 20] [--browser]
 *
 * `--browser` also times the overview's first render in headless Chromium (/usr/bin/chromium or
 * CHROMIUM_PATH), from navigation to the first count on screen, in a fresh browser context each time.
 *
 * SQLite in a temporary folder, PostgreSQL (BENCH_PG_URL, else the local `test` database) in a
 * schema of its own; both are removed at the end, also on Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import pg from 'pg'
import { createOffload } from '../src/index.js'
import { uuidv7 } from '../src/ids.js'
import { createServer } from '../src/server/app.js'
import { PostgresStore } from '../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js'
import type { JobInsert, Store } from '../src/store/store.js'
import { summarise } from './lib/stats.js'

const args = process.argv.slice(2)
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const STORES = (option('--store') ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[]
const SHAPES = (option('--shape') ?? 'mixed,queued').split(',') as Shape[]
const JOBS = Number(option('--jobs') ?? 1_000_000)
const CALLS = Number(option('--calls') ?? 20)
/** Also time the overview's first render in headless Chromium (the dashboard must be built). */
const BROWSER = args.includes('--browser')
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
for (const store of STORES) if (store !== 'sqlite' && store !== 'postgres') throw new Error(`--store: unknown '${store}' (sqlite or postgres)`)
for (const shape of SHAPES) if (shape !== 'mixed' && shape !== 'queued') throw new Error(`--shape: unknown '${shape}' (mixed or queued)`)
if (!Number.isInteger(JOBS) || JOBS < 1000) throw new Error('--jobs needs a whole number of at least 1000')

type Shape = 'mixed' | 'queued'
const BATCH = 10_000
const NOW = Date.now()
/** Mixed: where each job goes, by its place in the insert order. */
const QUEUES = [
  ['emails', 0.4],
  ['images', 0.3],
  ['reports', 0.2],
  ['webhooks', 0.1],
] as const
/** Mixed: the share of each queue's jobs per state, in the order the ranges are cut. */
const STATE_SHARES = [
  ['completed', 0.55],
  ['failed', 0.1],
  ['cancelled', 0.02],
  ['running', 0.02],
  ['retrying', 0.03],
  ['scheduled', 0.08],
  ['queued', 0.2],
] as const

interface Sample {
  name: string
  p50: number
  max: number
}

/** Somewhere to put a store, and the raw SQL the fixture needs. */
interface Space {
  url: string
  open(): Store
  /** Runs plain SQL on the store's database, outside the store. */
  sql(text: string): Promise<void>
  /** Counts the jobs as they now are, replacing the store's counts: what its migration does. */
  recount(): Promise<void>
  /** The stores' full-scan GROUP BY of before the counts, timed by the caller. */
  scan(): Promise<{ queue: string; state: string; count: number }[]>
  remove(): Promise<void>
}

function sqliteSpace(): Space {
  const dir = mkdtempSync(join(tmpdir(), 'offload-dashboard-scale-'))
  const path = join(dir, 'offload.db')
  let raw: Database.Database | undefined
  const db = (): Database.Database => (raw ??= new Database(path))
  return {
    url: `sqlite:${path}`,
    open: () => new SqliteStore({ path }),
    sql: async (text) => void db().exec(text.replaceAll('{jobs}', 'offload_jobs')),
    recount: async () =>
      void db().exec(`DELETE FROM offload_queue_counts;
        INSERT INTO offload_queue_counts (queue, state, n) SELECT queue, state, count(*) FROM offload_jobs GROUP BY queue, state`),
    scan: async () =>
      db().prepare('SELECT queue, state, count(*) AS count, min(run_at) AS oldest FROM offload_jobs GROUP BY queue, state').all() as {
        queue: string
        state: string
        count: number
      }[],
    remove: async () => {
      raw?.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function postgresSpace(): Space {
  const schema = `bench_dashboard_${uuidv7().slice(-12)}`
  const client = new pg.Client({ connectionString: PG_URL })
  const connected = client.connect()
  const query = async (text: string): Promise<pg.QueryResult> => {
    await connected
    return client.query(text)
  }
  const url = new URL(PG_URL)
  url.searchParams.set('schema', schema)
  return {
    url: url.toString(),
    open: () => new PostgresStore({ url: PG_URL, schema }),
    sql: async (text) => void (await query(text.replaceAll('{jobs}', `${schema}.jobs`))),
    recount: async () =>
      void (await query(`DELETE FROM ${schema}.queue_counts; DELETE FROM ${schema}.queue_count_deltas;
        INSERT INTO ${schema}.queue_counts (queue, state, n) SELECT queue, state, count(*) FROM ${schema}.jobs GROUP BY queue, state`)),
    scan: async () =>
      (await query(`SELECT queue, state, count(*)::int AS count, min(run_at) AS oldest FROM ${schema}.jobs GROUP BY queue, state`)).rows as {
        queue: string
        state: string
        count: number
      }[],
    remove: async () => {
      await query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await client.end()
    },
  }
}

/** `JOBS` jobs queued and scheduled through the store, then moved to their states by plain SQL. */
async function fill(space: Space, shape: Shape, kind: 'sqlite' | 'postgres'): Promise<void> {
  const store = space.open()
  try {
    await store.migrate()
    for (let first = 0; first < JOBS; first += BATCH) {
      const jobs: JobInsert[] = []
      for (let i = first; i < Math.min(JOBS, first + BATCH); i++) {
        const queue = shape === 'queued' ? 'backlog' : queueOf(i)
        jobs.push({
          id: uuidv7(),
          task: `${queue}.run`,
          queue,
          payload: JSON.stringify({ i }),
          priority: i % 5,
          maxAttempts: 3,
          // Queued jobs waited up to a day; a few percent of the mixed ones are due later (scheduled).
          runAt: NOW - 86_400_000 + Math.floor((i / JOBS) * 86_400_000),
        })
      }
      await store.jobInsertMany({ jobs, now: NOW })
    }
  } finally {
    await store.close()
  }
  if (shape === 'mixed') {
    // Consecutive ranges of seqs, one per state: each holds jobs of every queue (see queueOf).
    const ms = kind === 'sqlite' ? String(NOW) : `to_timestamp(${NOW} / 1000.0)`
    const later = kind === 'sqlite' ? String(NOW + 3_600_000) : `to_timestamp(${NOW + 3_600_000} / 1000.0)`
    let from = 0
    for (const [state, share] of STATE_SHARES) {
      const to = state === 'queued' ? JOBS + 1 : from + Math.round(JOBS * share)
      const set =
        state === 'completed' || state === 'failed' || state === 'cancelled'
          ? `state = '${state}', attempt = 1, finished_at = ${ms}`
          : state === 'running'
            ? `state = 'running', attempt = 1, lease = 1, worker_id = 'bench', lease_expires_at = ${later}, started_at = ${ms}`
            : state === 'retrying' || state === 'scheduled'
              ? `state = '${state}', attempt = ${state === 'retrying' ? 1 : 0}, run_at = ${later}`
              : undefined
      if (set !== undefined) await space.sql(`UPDATE {jobs} SET ${set} WHERE seq > ${from} AND seq <= ${to}`)
      from = to
    }
    await space.recount()
  }
  if (kind === 'postgres') await space.sql('VACUUM (ANALYZE) {jobs}')
  else await space.sql('ANALYZE')
  // Folded, as the maintenance leader keeps them; then real writes through the store, so
  // PostgreSQL also holds deltas not yet folded, as it would between two folds.
  const live = space.open()
  try {
    while ((await live.queueCountsCompact({ limit: 10_000 })) > 0);
    const queues = shape === 'queued' ? ['backlog'] : QUEUES.map(([queue]) => queue)
    for (let round = 0; round < 20; round++) {
      const claimed = await live.jobClaim({ queues, workerId: 'bench', limit: 100, leaseMs: 60_000 })
      await live.jobFinishMany({
        finishes: claimed.map((job, i) =>
          i % 10 === 0 ? { id: job.id, lease: job.lease, outcome: 'failed', error: { name: 'Error', message: 'bench' } } : { id: job.id, lease: job.lease, outcome: 'completed', result: 'null' },
        ),
      })
      await live.jobInsertMany({ jobs: Array.from({ length: 50 }, (_, i) => ({ id: uuidv7(), task: 't', queue: queues[i % queues.length]!, payload: '1', priority: 0, maxAttempts: 1 })) })
    }
  } finally {
    await live.close()
  }
}

function queueOf(i: number): string {
  // By i mod 10, so every queue spreads over the whole insert order (and so over every state range).
  const slot = (i % 10) / 10
  let edge = 0
  for (const [queue, share] of QUEUES) if (slot < (edge += share) - 1e-9) return queue
  return QUEUES[QUEUES.length - 1]![0]
}

async function time(name: string, calls: number, run: () => Promise<unknown>): Promise<Sample> {
  await run()
  const samples: number[] = []
  for (let i = 0; i < calls; i++) {
    const started = performance.now()
    await run()
    samples.push(performance.now() - started)
  }
  const { p50, max } = summarise(samples)
  return { name, p50, max }
}

async function measure(kind: 'sqlite' | 'postgres', shape: Shape): Promise<Sample[]> {
  const space = kind === 'sqlite' ? sqliteSpace() : postgresSpace()
  const cleanup = (): void => {
    void space.remove().finally(() => process.exit(130))
  }
  process.once('SIGINT', cleanup)
  try {
    const filling = performance.now()
    await fill(space, shape, kind)
    console.log(`${kind} ${shape}: ${JOBS.toLocaleString('en-US')} jobs written in ${((performance.now() - filling) / 1000).toFixed(1)} s`)
    const offload = createOffload({ store: space.url, logger: false, migrate: false })
    const app = createServer(offload, { tokens: [], logger: false })
    try {
      await app.ready()
      const get = (url: string) => async (): Promise<void> => {
        const answer = await app.inject({ method: 'GET', url })
        if (answer.statusCode !== 200) throw new Error(`GET ${url}: ${answer.statusCode} ${answer.body.slice(0, 200)}`)
      }
      const samples = [
        await time('queueList()', CALLS, () => offload.store.queueList()),
        await time('jobCounts()', CALLS, () => offload.store.jobCounts()),
        await time('GET /v1/queues', CALLS, get('/v1/queues')),
        await time('GET /v1/queues/activity', CALLS, get('/v1/queues/activity')),
        await time('full-scan GROUP BY (before)', Math.min(CALLS, 5), () => space.scan()),
      ]
      if (BROWSER) samples.push(await renderInBrowser(app, shape === 'mixed' ? 'count-emails-completed' : 'count-backlog-queued'))
      const key = (row: { queue: string; state: string; count: number }): string => `${row.queue} ${row.state} ${row.count}`
      const kept = (await offload.store.jobCounts()).map(key).sort()
      const recounted = (await space.scan()).map(key).sort()
      if (kept.join('\n') !== recounted.join('\n')) throw new Error(`${kind} ${shape}: the kept counts differ from a recount:\n${kept.join('\n')}\n--\n${recounted.join('\n')}`)
      const listed = await offload.store.queueList()
      console.log(`  ${listed.map((queue) => `${queue.queue}: ${Object.values(queue.counts).reduce((a, b) => a + b, 0).toLocaleString('en-US')} jobs, ${queue.counts.queued.toLocaleString('en-US')} queued`).join('; ')}`)
      return samples
    } finally {
      await app.close()
      await offload.close()
    }
  } finally {
    process.removeListener('SIGINT', cleanup)
    await space.remove()
  }
}

/**
 * The overview as a person sees it: a fresh page in headless Chromium (a new browser context each
 * time: nothing cached), from navigation until the first queue's count is on screen — the page,
 * its script, GET /v1/session, /v1/queues and /v1/queues/activity, and the render.
 */
async function renderInBrowser(app: ReturnType<typeof createServer>, testId: string): Promise<Sample> {
  const { chromium } = await import('playwright-core')
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS })
  try {
    return await time('overview rendered in Chromium', Math.min(CALLS, 10), async () => {
      const context = await browser.newContext()
      try {
        const page = await context.newPage()
        await page.goto(url)
        await page.getByTestId(testId).filter({ hasText: /\d/ }).waitFor()
      } finally {
        await context.close()
      }
    })
  } finally {
    await browser.close()
  }
}

const rows: string[] = []
for (const kind of STORES) {
  for (const shape of SHAPES) {
    for (const sample of await measure(kind, shape)) {
      rows.push(`| ${kind} | ${shape} | ${sample.name} | ${sample.p50.toFixed(2)} | ${sample.max.toFixed(2)} |`)
    }
  }
}
console.log(`\n${JOBS.toLocaleString('en-US')} jobs; p50 and max of ${CALLS} calls (the full scan: ${Math.min(CALLS, 5)}), ms\n`)
console.log('| store | shape | read | p50 ms | max ms |\n|---|---|---|---|---|')
console.log(rows.join('\n'))
