import { makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker'
import { WorkerChild } from '../lib/children.js'
import { sleep } from '../lib/clock.js'
import { drainInChild, latencyInProcess, StartSignals, timeChunks, timeSequential, wakeupAcross } from '../lib/measure.js'
import { GRAPHILE_SCHEMA, GRAPHILE_TASK, PG_URL, type BenchPayload } from '../workers/names.js'
import { graphileLogger } from '../workers/graphile-config.js'
import { dropSchema, postgresVersion } from './postgres.js'
import type { BenchSystem, DrainResult, LatencyPlan, LatencyResult, RateResult, ScenarioContext } from './system.js'

const WORKER_SCRIPT = 'bench/workers/graphile.ts'

/** Worker utilities on a freshly migrated schema. */
async function freshUtils(): Promise<WorkerUtils> {
  await dropSchema(GRAPHILE_SCHEMA)
  const utils = await makeWorkerUtils({ connectionString: PG_URL, schema: GRAPHILE_SCHEMA, logger: graphileLogger })
  await utils.migrate()
  return utils
}

async function addMany(utils: WorkerUtils, first: number, size: number): Promise<unknown> {
  return utils.addJobs(Array.from({ length: size }, (_, k) => ({ identifier: GRAPHILE_TASK, payload: { i: first + k } satisfies BenchPayload })))
}

/** Graphile Worker 0.17 on the local PostgreSQL (synchronous_commit on: acknowledged jobs are durable). */
export class GraphileSystem implements BenchSystem {
  readonly name = 'graphile'
  readonly title = 'Graphile Worker (PostgreSQL)'
  readonly durableAcks = 'yes: PostgreSQL with fsync and synchronous_commit on'
  readonly server = 'postgres'
  readonly bulkChunks = [1_000, 10_000]
  readonly settings = {
    utils: `makeWorkerUtils({ connectionString, schema: '${GRAPHILE_SCHEMA}' }), migrated before timing`,
    bulk: 'utils.addJobs(chunk) (the bulk API, experimental in 0.17), chunks awaited one after another',
    drain:
      'child process: run({ concurrency: 50, maxPoolSize: 52, noHandleSignals: true, preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }) — the batching its performance page recommends; maxPoolSize max(10, concurrency + 2) as its docs advise',
    sequential: 'await utils.addJob(task, payload), one at a time',
    latency: 'run({ concurrency: 50 }) in the same process with defaults (no local queue, no batching: the low-latency shape); woken by LISTEN/NOTIFY',
    wakeup: 'producer in the bench process, run({ concurrency: 50 }) with defaults in a child process; woken by LISTEN/NOTIFY',
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  async bulkEnqueue(_ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult> {
    const utils = await freshUtils()
    try {
      return await timeChunks(`addJobs ×${chunk.toLocaleString('en-US')}`, jobs, chunk, timeLimitMs, (first, size) => addMany(utils, first, size))
    } finally {
      await utils.release()
      await dropSchema(GRAPHILE_SCHEMA)
    }
  }

  async drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const utils = await freshUtils()
    try {
      for (let first = 0; first < jobs; first += 10_000) await addMany(utils, first, Math.min(10_000, jobs - first))
    } finally {
      await utils.release()
    }
    try {
      const variant = `run({ concurrency: ${concurrency} }), localQueue 500, batched completion`
      return [await drainInChild(ctx, variant, WORKER_SCRIPT, { mode: 'drain', jobs, concurrency, options: { preset: 'throughput' } }, timeLimitMs)]
    } finally {
      await dropSchema(GRAPHILE_SCHEMA)
    }
  }

  async sequentialEnqueue(_ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult> {
    const utils = await freshUtils()
    try {
      return await timeSequential('await utils.addJob()', jobs, timeLimitMs, (i) => utils.addJob(GRAPHILE_TASK, { i } satisfies BenchPayload))
    } finally {
      await utils.release()
      await dropSchema(GRAPHILE_SCHEMA)
    }
  }

  async latencyInProcess(_ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const utils = await freshUtils()
    const signals = new StartSignals()
    let runner: Runner | undefined
    try {
      runner = await run({
        connectionString: PG_URL,
        schema: GRAPHILE_SCHEMA,
        concurrency: 50,
        noHandleSignals: true,
        logger: graphileLogger,
        taskList: {
          [GRAPHILE_TASK]: async (payload) => {
            signals.started((payload as BenchPayload).seq!)
          },
        },
      })
      await sleep(200)
      return await latencyInProcess('same process, run({ concurrency: 50 })', plan, signals, (seq) =>
        utils.addJob(GRAPHILE_TASK, { seq } satisfies BenchPayload),
      )
    } finally {
      await runner?.stop()
      await utils.release()
      await dropSchema(GRAPHILE_SCHEMA)
    }
  }

  async wakeupAcrossProcesses(_ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const utils = await freshUtils()
    const child = new WorkerChild(WORKER_SCRIPT, { mode: 'wakeup', jobs: 0, concurrency: 50, options: { preset: 'default' } })
    try {
      await child.next('ready', 60_000)
      const result = await wakeupAcross('producer here, run() in a child process', plan, child, (seq, sentAt) =>
        utils.addJob(GRAPHILE_TASK, { seq, sentAt } satisfies BenchPayload),
      )
      await child.stop()
      return result
    } finally {
      child.kill()
      await utils.release()
      await dropSchema(GRAPHILE_SCHEMA)
    }
  }
}

