/**
 * One measurement for pg-ab.ts, in a process of its own with a cold JIT, as a producer or a worker
 * would start. Offload comes from the folder it is given (this checkout, or another commit's `src/`
 * unpacked with a link to this checkout's node_modules), so two versions run against one server.
 *
 *   node --import tsx bench/experiments/pg-ab-child.ts '{"src": "...", "mode": "bulk", ...}'
 *
 * Prints one line of JSON: `{ "rate": jobs/s, "ms": …, "cpuMs": this process's CPU over the span }`,
 * for a drain also `serverMs`, the PostgreSQL server's; `fill` prints `{}`.
 */
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { CpuMeter } from '../lib/cpu.js'

interface Config {
  /** A folder holding Offload's `src/`. */
  src: string
  mode: 'fill' | 'bulk' | 'drain'
  /** PostgreSQL URL without `?schema=`. */
  url: string
  schema: string
  jobs: number
  /** bulk: jobs per enqueueMany call. */
  chunk?: number
  /** drain: work({ concurrency }). */
  concurrency?: number
}

type Index = typeof import('../../src/index.js')

const config = JSON.parse(process.argv[2] ?? '{}') as Config
const { createOffload } = (await import(pathToFileURL(join(config.src, 'src/index.ts')).href)) as Index
const storeUrl = `${config.url}?schema=${config.schema}`
const TASK = 'bench.noop'
const QUEUE = 'bench'

/** Each bulk and fill starts from an empty schema, migrated by the version under test. */
async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: config.url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(config.schema)} CASCADE`)
  } finally {
    await client.end()
  }
}

function open(): { offload: ReturnType<Index['createOffload']>; task: import('../../src/index.js').Task<{ i: number }, void> } {
  const offload = createOffload({ store: storeUrl, logger: false })
  return { offload, task: offload.task<{ i: number }, void>(TASK, { queue: QUEUE, run: () => {} }) }
}

async function enqueueAll(chunk: number): Promise<{ ms: number; cpuMs: number }> {
  await dropSchema()
  const { offload, task } = open()
  await offload.migrate()
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (let first = 0; first < config.jobs; first += chunk) {
    const size = Math.min(chunk, config.jobs - first)
    await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
  }
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  await offload.close()
  return { ms, cpuMs: (used.user + used.system) / 1000 }
}

/** What the drain's handlers saw: how many ran, the last one, and a promise kept when all did. */
class Handled {
  count = 0
  lastId = ''
  readonly all: Promise<void>
  private done: () => void = () => {}

  constructor(private readonly target: number) {
    this.all = new Promise<void>((resolve) => (this.done = resolve))
  }

  ran(jobId: string): void {
    this.lastId = jobId
    if (++this.count === this.target) this.done()
  }
}

/**
 * The bench's drain: the clock runs from `work()` until the store shows the last job handled as
 * completed (outcomes are written in the order handlers finish), confirmed by a count after.
 */
async function drain(): Promise<Record<string, number>> {
  const offload = createOffload({ store: storeUrl, logger: false })
  const handled = new Handled(config.jobs)
  offload.task<{ i: number }, void>(TASK, { queue: QUEUE, run: (_payload, ctx) => handled.ran(ctx.jobId) })
  await offload.migrate()
  const cpu = process.cpuUsage()
  // Every postgres process's CPU (the server is local and shared: other clients' queries count
  // too, so compare runs made close together).
  const server = new CpuMeter()
  const started = performance.now()
  const working = offload.work({ concurrency: config.concurrency ?? 50, handleSignals: false })
  await handled.all
  while ((await offload.getJob(handled.lastId))?.state !== 'completed') await new Promise((resolve) => setTimeout(resolve, 1))
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  const serverMs = server.stop()?.serverMs.postgres ?? NaN
  const counts = await offload.countJobs()
  await offload.close()
  await working
  const completed = counts.find((row) => row.state === 'completed')?.count ?? 0
  if (completed !== config.jobs) throw new Error(`drain: ${completed} of ${config.jobs} completed`)
  return { rate: (config.jobs / ms) * 1000, ms, cpuMs: (used.user + used.system) / 1000, serverMs }
}

let result: Record<string, number>
if (config.mode === 'fill') {
  await enqueueAll(10_000)
  result = {}
} else if (config.mode === 'bulk') {
  const { ms, cpuMs } = await enqueueAll(config.chunk ?? 1_000)
  result = { rate: (config.jobs / ms) * 1000, ms, cpuMs }
} else {
  result = await drain()
}
console.log(JSON.stringify(result))
