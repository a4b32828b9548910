/**
 * One measurement for sqlite-ab.ts, in a fresh process so every variant starts with a cold JIT,
 * as a real worker or producer would. Loads Offload from the `src` folder it is given (this
 * checkout, or a copy of another commit), so two versions of the code run side by side.
 *
 *   node --import tsx bench/experiments/sqlite-ab-child.ts '{"src": "...", "mode": "bulk", ...}'
 *
 * Prints one line of JSON: `{ "rate": jobs per second, "ms": ... }` (fill prints `{}`).
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { findSourceMap, type SourceMapPayload } from 'node:module'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

interface Config {
  /** A folder holding Offload's `src/`. */
  src: string
  mode: 'fill' | 'bulk' | 'drain'
  file: string
  jobs: number
  /** bulk: jobs per enqueueMany call. */
  chunk?: number
  /** drain: work({ concurrency }). */
  concurrency?: number
  /**
   * With `node --cpu-prof --cpu-prof-name <profile>`: writes `<profile>.window.json` (the timed
   * span) and `<profile>.sourcemaps.json` beside it, for bench/profile-summary.ts.
   */
  profile?: string
}

type Index = typeof import('../../src/index.js')

const config = JSON.parse(process.argv[2] ?? '{}') as Config
const { createOffload } = (await import(pathToFileURL(join(config.src, 'src/index.ts')).href)) as Index
/** The span each scenario times, for a profile's window. */
const timed = { fromUs: 0, toUs: 0 }
const TASK = 'bench.noop'
const QUEUE = 'bench'

async function fill(): Promise<Record<string, number>> {
  const offload = createOffload({ store: `sqlite:${config.file}`, logger: false })
  const task = offload.task<{ i: number }, void>(TASK, { queue: QUEUE, run: () => {} })
  for (let first = 0; first < config.jobs; first += 10_000) {
    const size = Math.min(10_000, config.jobs - first)
    await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
  }
  await offload.close()
  return {}
}

/** The bench's bulk scenario: awaited enqueueMany calls of `chunk` jobs into an empty store. */
async function bulk(): Promise<Record<string, number>> {
  const offload = createOffload({ store: `sqlite:${config.file}`, logger: false })
  const task = offload.task<{ i: number }, void>(TASK, { queue: QUEUE, run: () => {} })
  await offload.migrate()
  const chunk = config.chunk ?? 1_000
  timed.fromUs = monotonicMicros()
  const started = performance.now()
  for (let first = 0; first < config.jobs; first += chunk) {
    const size = Math.min(chunk, config.jobs - first)
    await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
  }
  const ms = performance.now() - started
  timed.toUs = monotonicMicros()
  await offload.close()
  return { rate: (config.jobs / ms) * 1000, ms }
}

/**
 * The bench's drain scenario: a worker started on `jobs` queued jobs, timed from `work()` until
 * the store shows every job completed (the last handled job first, then a count to confirm).
 */
async function drain(): Promise<Record<string, number>> {
  const offload = createOffload({ store: `sqlite:${config.file}`, logger: false })
  let handled = 0
  let lastId = ''
  let allHandled: () => void = () => {}
  const handledAll = new Promise<void>((resolve) => (allHandled = resolve))
  offload.task<{ i: number }, void>(TASK, {
    queue: QUEUE,
    run: (_payload, ctx) => {
      lastId = ctx.jobId
      if (++handled === config.jobs) allHandled()
    },
  })
  await offload.migrate()
  const completed = async (): Promise<number> =>
    (await offload.countJobs()).filter((row) => row.state === 'completed').reduce((sum, row) => sum + row.count, 0)
  const before = await completed()
  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1))
  timed.fromUs = monotonicMicros()
  const started = performance.now()
  const cpuStart = process.cpuUsage()
  await offload.work({ concurrency: config.concurrency ?? 50, handleSignals: false })
  await handledAll
  while ((await offload.getJob(lastId))?.state !== 'completed') await pause()
  let ms = performance.now() - started
  if ((await completed()) - before < config.jobs) {
    while ((await completed()) - before < config.jobs) await pause()
    ms = performance.now() - started
  }
  const cpu = process.cpuUsage(cpuStart)
  timed.toUs = monotonicMicros()
  await offload.close()
  return { rate: (config.jobs / ms) * 1000, ms, cpuMs: (cpu.user + cpu.system) / 1000 }
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** tsx's source maps of the `src/` files loaded, so the profile's positions read as `src/…ts:line`. */
function writeProfileNotes(window: { fromUs: number; toUs: number }): void {
  if (config.profile === undefined) return
  const base = config.profile.replace(/\.cpuprofile$/, '')
  writeFileSync(`${base}.window.json`, JSON.stringify(window))
  const maps: Record<string, SourceMapPayload> = {}
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) {
        const map = findSourceMap(pathToFileURL(path).href)
        if (map !== undefined) maps[pathToFileURL(path).href] = map.payload
      }
    }
  }
  walk(join(config.src, 'src'))
  writeFileSync(`${base}.sourcemaps.json`, JSON.stringify(maps))
}

const limit = setTimeout(() => {
  console.error(`${config.mode} took longer than 120 s`)
  process.exit(3)
}, 120_000)
limit.unref()
const result = config.mode === 'fill' ? await fill() : config.mode === 'bulk' ? await bulk() : await drain()
writeProfileNotes(timed)
console.log(JSON.stringify(result))
