import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createOffload, type Offload, type Task } from '../../src/index.js'
import { WorkerChild } from '../lib/children.js'
import { drainInChild, latencyInProcess, profiled, StartSignals, timeChunks, timeSequential, wakeupAcross } from '../lib/measure.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload as OffloadPayload } from '../workers/names.js'
import type { BenchSystem, DrainResult, LatencyPlan, LatencyResult, RateResult, ScenarioContext } from './system.js'

const WORKER_SCRIPT = 'bench/workers/offload.ts'

interface Instance {
  offload: Offload
  task: Task<OffloadPayload, void>
}

/** An instance on its own database file; the store is migrated before any timing starts. */
async function open(file: string, run: (payload: OffloadPayload) => void = () => {}): Promise<Instance> {
  const offload = createOffload({ store: `sqlite:${file}`, logger: false })
  const task = offload.task<OffloadPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run })
  await offload.migrate()
  return { offload, task }
}

async function removeDatabase(file: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(file + suffix, { force: true })))
}

/** Offload on its embedded SQLite store: WAL, synchronous=FULL, group commit (the library's defaults). */
export class OffloadSystem implements BenchSystem {
  readonly name = 'offload'
  readonly title = 'Offload (SQLite)'
  readonly durableAcks = 'yes: an enqueue resolves after its commit is fsynced (WAL, synchronous=FULL)'
  readonly bulkChunks = [1_000, 10_000]
  readonly settings = {
    store: "createOffload({ store: 'sqlite:<tmp file>', logger: false }), library defaults: WAL, synchronous=FULL, group commit",
    bulk: 'task.enqueueMany(chunk), chunks awaited one after another',
    drain: 'child process: offload.work({ concurrency: 50, handleSignals: false }) (batchSize = concurrency, maintenance on)',
    sequential: 'await task.enqueue(payload), one at a time',
    latency: 'worker in the same process, work({ concurrency: 50 }); woken by the in-process signal',
    wakeup: 'producer in the bench process, worker in a child on the same file; woken by PRAGMA data_version polling (2 ms)',
  }
  private fileCount = 0

  private file(ctx: ScenarioContext, scenario: string): string {
    return join(ctx.tmpDir, `offload-${scenario}-${++this.fileCount}.db`)
  }

  async probe(): Promise<Record<string, string>> {
    const db = new Database(':memory:')
    try {
      return { sqlite: String(db.prepare('SELECT sqlite_version()').pluck().get()) }
    } finally {
      db.close()
    }
  }

  async bulkEnqueue(ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult> {
    const file = this.file(ctx, 'bulk')
    const { offload, task } = await open(file)
    try {
      return await profiled(ctx, `offload-bulk-${chunk}`, () =>
        timeChunks(`enqueueMany ×${chunk.toLocaleString('en-US')}`, jobs, chunk, timeLimitMs, (first, size) =>
          task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } }))),
        ),
      )
    } finally {
      await offload.close()
      await removeDatabase(file)
    }
  }

  async drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const file = this.file(ctx, 'drain')
    try {
      const { offload, task } = await open(file)
      try {
        for (let first = 0; first < jobs; first += 10_000) {
          const size = Math.min(10_000, jobs - first)
          await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
        }
      } finally {
        await offload.close()
      }
      const result = await drainInChild(
        ctx,
        `work({ concurrency: ${concurrency} })`,
        WORKER_SCRIPT,
        { mode: 'drain', jobs, concurrency, options: { file } },
        timeLimitMs,
        'offload-drain.cpuprofile',
      )
      return [result]
    } finally {
      await removeDatabase(file)
    }
  }

  async sequentialEnqueue(ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult> {
    const file = this.file(ctx, 'sequential')
    const { offload, task } = await open(file)
    try {
      return await profiled(ctx, 'offload-sequential', () =>
        timeSequential('await task.enqueue()', jobs, timeLimitMs, (i) => task.enqueue({ i })),
      )
    } finally {
      await offload.close()
      await removeDatabase(file)
    }
  }

  async latencyInProcess(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const file = this.file(ctx, 'latency')
    const signals = new StartSignals()
    const { offload, task } = await open(file, (payload) => signals.started(payload.seq!))
    try {
      await offload.work({ concurrency: 50, handleSignals: false })
      return await profiled(ctx, 'offload-latency', () =>
        latencyInProcess('same process, work({ concurrency: 50 })', plan, signals, (seq) => task.enqueue({ seq })),
      )
    } finally {
      await offload.close()
      await removeDatabase(file)
    }
  }

  async wakeupAcrossProcesses(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const file = this.file(ctx, 'wakeup')
    const { offload, task } = await open(file)
    const child = new WorkerChild(WORKER_SCRIPT, { mode: 'wakeup', jobs: 0, concurrency: 50, options: { file } }, ctx.profileDir === undefined ? {} : { cpuProfile: { dir: ctx.profileDir, name: 'offload-wakeup-worker.cpuprofile' } })
    try {
      await child.next('ready', 60_000)
      // The worker's first claim and its change watcher start on `start`; give them a moment.
      const result = await wakeupAcross('producer here, worker in a child process', plan, child, async (seq, sentAt) => {
        await task.enqueue({ seq, sentAt })
      })
      await child.stop()
      const profile = child.collectProfile()
      if (profile !== undefined) {
        result.profile = profile
        ctx.log(`    worker profile: ${profile}`)
      }
      return result
    } finally {
      child.kill()
      await offload.close()
      await removeDatabase(file)
    }
  }
}
