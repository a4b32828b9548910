import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createOffload, type Offload, type Task } from '../../src/index.js'
import { WorkerChild } from '../lib/children.js'
import { drainInChild, latencyInProcess, profiled, StartSignals, timeChunks, timeSequential, wakeupAcross } from '../lib/measure.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload as OffloadPayload } from '../workers/names.js'
import type { BenchSystem, DrainResult, LatencyPlan, LatencyResult, RateResult, ScenarioContext, SystemName } from './system.js'

const WORKER_SCRIPT = 'bench/workers/offload.ts'

export interface Instance {
  offload: Offload
  task: Task<OffloadPayload, void>
}

/** A fresh, empty store for one scenario: its URL for `createOffload`, and how to delete it. */
export interface FreshStore {
  url: string
  remove(): Promise<void>
}

/** An instance on `url`; the store is migrated before any timing starts. */
export async function open(url: string, run: (payload: OffloadPayload) => void = () => {}): Promise<Instance> {
  const offload = createOffload({ store: url, logger: false })
  const task = offload.task<OffloadPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run })
  await offload.migrate()
  return { offload, task }
}

/** Queues `jobs` no-op jobs, 10,000 per enqueueMany, untimed. */
export async function fill(task: Task<OffloadPayload, void>, jobs: number): Promise<void> {
  for (let first = 0; first < jobs; first += 10_000) {
    const size = Math.min(10_000, jobs - first)
    await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
  }
}

/**
 * Offload's scenarios, the same on every store: a subclass says where a scenario's fresh store
 * lives and how that store is configured. Every instance uses the library's defaults.
 */
export abstract class OffloadStoreSystem implements BenchSystem {
  abstract readonly name: SystemName
  abstract readonly title: string
  abstract readonly durableAcks: string
  abstract readonly settings: Record<string, string>
  readonly bulkChunks = [1_000, 10_000]

  abstract probe(): Promise<Record<string, string>>
  /** A new empty store for `scenario`, not yet migrated. */
  protected abstract freshStore(ctx: ScenarioContext, scenario: string): Promise<FreshStore>

  async bulkEnqueue(ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult> {
    const store = await this.freshStore(ctx, 'bulk')
    const { offload, task } = await open(store.url)
    try {
      return await profiled(ctx, `${this.name}-bulk-${chunk}`, () =>
        timeChunks(`enqueueMany ×${chunk.toLocaleString('en-US')}`, jobs, chunk, timeLimitMs, (first, size) =>
          task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } }))),
        ),
      )
    } finally {
      await offload.close()
      await store.remove()
    }
  }

  async drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const store = await this.freshStore(ctx, 'drain')
    try {
      return [await this.drainStore(ctx, store.url, jobs, concurrency, timeLimitMs, `work({ concurrency: ${concurrency} })`, 'drain')]
    } finally {
      await store.remove()
    }
  }

  /** Queues `jobs` on the (migrated or not) store at `url`, then drains them in one worker process. */
  protected async drainStore(
    ctx: ScenarioContext,
    url: string,
    jobs: number,
    concurrency: number,
    timeLimitMs: number,
    variant: string,
    profileName: string,
  ): Promise<DrainResult> {
    const { offload, task } = await open(url)
    try {
      await fill(task, jobs)
    } finally {
      await offload.close()
    }
    return drainInChild(ctx, variant, WORKER_SCRIPT, { mode: 'drain', jobs, concurrency, options: { store: url } }, timeLimitMs, `${this.name}-${profileName}.cpuprofile`)
  }

  async sequentialEnqueue(ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult> {
    const store = await this.freshStore(ctx, 'sequential')
    const { offload, task } = await open(store.url)
    try {
      return await profiled(ctx, `${this.name}-sequential`, () =>
        timeSequential('await task.enqueue()', jobs, timeLimitMs, (i) => task.enqueue({ i })),
      )
    } finally {
      await offload.close()
      await store.remove()
    }
  }

  async latencyInProcess(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const store = await this.freshStore(ctx, 'latency')
    const signals = new StartSignals()
    const { offload, task } = await open(store.url, (payload) => signals.started(payload.seq!))
    try {
      await offload.work({ concurrency: 50, handleSignals: false })
      return await profiled(ctx, `${this.name}-latency`, () =>
        latencyInProcess('same process, work({ concurrency: 50 })', plan, signals, (seq) => task.enqueue({ seq })),
      )
    } finally {
      await offload.close()
      await store.remove()
    }
  }

  async wakeupAcrossProcesses(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const store = await this.freshStore(ctx, 'wakeup')
    const { offload, task } = await open(store.url)
    const profile = ctx.profileDir === undefined ? {} : { cpuProfile: { dir: ctx.profileDir, name: `${this.name}-wakeup-worker.cpuprofile` } }
    const child = new WorkerChild(WORKER_SCRIPT, { mode: 'wakeup', jobs: 0, concurrency: 50, options: { store: store.url } }, profile)
    try {
      await child.next('ready', 60_000)
      // The worker's first claim and its change watcher start on `start`; give them a moment.
      const result = await wakeupAcross('producer here, worker in a child process', plan, child, async (seq, sentAt) => {
        await task.enqueue({ seq, sentAt })
      })
      await child.stop()
      const written = child.collectProfile()
      if (written !== undefined) {
        result.profile = written
        ctx.log(`    worker profile: ${written}`)
      }
      return result
    } finally {
      child.kill()
      await offload.close()
      await store.remove()
    }
  }
}

/** Offload on its embedded SQLite store: WAL, synchronous=FULL, group commit (the library's defaults). */
export class OffloadSystem extends OffloadStoreSystem {
  readonly name = 'offload'
  readonly title = 'Offload (SQLite)'
  readonly durableAcks = 'yes: an enqueue resolves after its commit is fsynced (WAL, synchronous=FULL)'
  readonly settings = {
    store: "createOffload({ store: 'sqlite:<tmp file>', logger: false }), library defaults: WAL, synchronous=FULL, group commit",
    bulk: 'task.enqueueMany(chunk), chunks awaited one after another',
    drain: 'child process: offload.work({ concurrency: 50, handleSignals: false }) (batchSize = concurrency, maintenance on)',
    sequential: 'await task.enqueue(payload), one at a time',
    latency: 'worker in the same process, work({ concurrency: 50 }); woken by the in-process signal',
    wakeup: 'producer in the bench process, worker in a child on the same file; woken by PRAGMA data_version polling (2 ms)',
  }
  private fileCount = 0

  async probe(): Promise<Record<string, string>> {
    const db = new Database(':memory:')
    try {
      return { sqlite: String(db.prepare('SELECT sqlite_version()').pluck().get()) }
    } finally {
      db.close()
    }
  }

  protected async freshStore(ctx: ScenarioContext, scenario: string): Promise<FreshStore> {
    const file = join(ctx.tmpDir, `offload-${scenario}-${++this.fileCount}.db`)
    return {
      url: `sqlite:${file}`,
      remove: async () => {
        await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(file + suffix, { force: true })))
      },
    }
  }
}
