/**
 * Offload end to end with one store tuning at a time, against the same code untuned, runs
 * interleaved: the evidence for the src/ suggestions in the bench report.
 *
 *   npx tsx bench/experiments/variants.ts [--rounds 3] [--only drain|latency]
 *
 * - drain (20,000 jobs, one worker process, concurrency 50): PRAGMA temp_store = MEMORY or not;
 * - latency in one process (1,000 jobs): claim commits fsynced (today) or not.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOffload } from '../../src/index.js'
import { drainInChild, latencyInProcess, StartSignals } from '../lib/measure.js'
import { median } from '../lib/stats.js'
import type { ScenarioContext } from '../systems/system.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from '../workers/names.js'
import { tunedStore, type Tuning } from './tuned-store.js'

const args = process.argv.slice(2)
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 3) || 3
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined
const DRAIN_JOBS = 20_000
const dir = mkdtempSync(join(tmpdir(), 'offload-variants-'))
const ctx: ScenarioContext = { quick: false, tmpDir: dir, profileDir: undefined, runId: 'variants', log: console.log }
let files = 0

async function drain(tempStoreMemory: boolean): Promise<number> {
  const file = join(dir, `drain-${++files}.db`)
  const offload = createOffload({ store: `sqlite:${file}`, logger: false })
  const task = offload.task<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: () => {} })
  for (let first = 0; first < DRAIN_JOBS; first += 10_000) {
    await task.enqueueMany(Array.from({ length: 10_000 }, (_, k) => ({ payload: { i: first + k } })))
  }
  await offload.close()
  const result = await drainInChild(ctx, 'drain', 'bench/experiments/drain-worker.ts', {
    mode: 'drain', jobs: DRAIN_JOBS, concurrency: 50, options: { file, tempStoreMemory },
  }, 30_000)
  return result.rate
}

async function latency(tuning: Tuning): Promise<number> {
  const file = join(dir, `latency-${++files}.db`)
  const store = tunedStore(file, tuning)
  const offload = createOffload({ store, logger: false })
  const signals = new StartSignals()
  const task = offload.task<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: (payload) => signals.started(payload.seq!) })
  await offload.migrate()
  await offload.work({ concurrency: 50, handleSignals: false })
  const result = await latencyInProcess('latency', { samples: 1000, warmup: 50, pauseMs: 3, jitterMs: 4, timeLimitMs: 20_000 }, signals, (seq) =>
    task.enqueue({ seq }),
  )
  await offload.close()
  await store.close()
  return result.summary.p50
}

try {
  const results = new Map<string, number[]>()
  const record = (name: string, value: number): void => void results.set(name, [...(results.get(name) ?? []), value])
  for (let round = 0; round < ROUNDS; round++) {
    if (ONLY !== 'latency') {
      record('drain jobs/s, store as today', await drain(false))
      record('drain jobs/s, + PRAGMA temp_store = MEMORY', await drain(true))
    }
    if (ONLY !== 'drain') {
      record('latency p50 ms, store as today', await latency({}))
      record('latency p50 ms, claims committed without fsync', await latency({ claimsWithoutFsync: true }))
    }
  }
  for (const [name, values] of results) {
    const digits = name.startsWith('drain') ? 0 : 3
    console.log(`${median(values).toFixed(digits).padStart(9)}  ${name}   [${values.map((v) => v.toFixed(digits)).join(', ')}]`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
