import PgBoss from 'pg-boss'
import { WorkerChild } from '../lib/children.js'
import { sleep } from '../lib/clock.js'
import { drainInChild, latencyInProcess, StartSignals, timeChunks, timeSequential, wakeupAcross } from '../lib/measure.js'
import { PG_URL, PGBOSS_QUEUE, PGBOSS_SCHEMA, type BenchPayload } from '../workers/names.js'
import { dropSchema, postgresVersion } from './postgres.js'
import type { BenchSystem, DrainResult, LatencyPlan, LatencyResult, RateResult, ScenarioContext } from './system.js'

const WORKER_SCRIPT = 'bench/workers/pgboss.ts'
/** pg-boss 10 refuses anything shorter (its MIN_POLLING_INTERVAL_MS is 500). */
export const PGBOSS_POLLING_SECONDS = 0.5

/**
 * A pg-boss instance on a freshly created schema with the queue created (v10 requires
 * `createQueue` before `send`/`work`).
 */
export async function freshBoss(): Promise<PgBoss> {
  await dropSchema(PGBOSS_SCHEMA)
  const boss = new PgBoss({ connectionString: PG_URL, schema: PGBOSS_SCHEMA })
  boss.on('error', (error: Error) => console.error(`pg-boss: ${error.message}`))
  await boss.start()
  await boss.createQueue(PGBOSS_QUEUE)
  return boss
}

/**
 * Each sample waits for a poll, so fewer fit the time limit; arrivals are spread over the whole
 * polling interval, as unsynchronised producers' would be.
 */
function pollPlan(plan: LatencyPlan): LatencyPlan {
  return { ...plan, warmup: Math.min(plan.warmup, 2), jitterMs: PGBOSS_POLLING_SECONDS * 1000 }
}

async function stopBoss(boss: PgBoss): Promise<void> {
  await boss.stop({ graceful: false, wait: true, close: true })
}

/** pg-boss 10 on the local PostgreSQL (synchronous_commit on: acknowledged jobs are durable). */
export class PgBossSystem implements BenchSystem {
  readonly name = 'pgboss'
  readonly title = 'pg-boss (PostgreSQL)'
  readonly durableAcks = 'yes: PostgreSQL with fsync and synchronous_commit on'
  readonly server = 'postgres'
  readonly bulkChunks = [1_000, 10_000]
  readonly settings = {
    instance: `new PgBoss({ connectionString, schema: '${PGBOSS_SCHEMA}' }) (pool max 10, maintenance and scheduling on, defaults), createQueue() first`,
    bulk: 'boss.insert(chunk) — one INSERT per chunk — chunks awaited one after another',
    drain: `child process: boss.work(queue, { batchSize, pollingIntervalSeconds: ${PGBOSS_POLLING_SECONDS} }, handler). pg-boss 10 has no concurrency option: a worker fetches a batch, runs the handler, then sleeps out the rest of the polling interval. Two shapes: batchSize 50 (50 handlers at once, the scenario's shape) and batchSize 1000 with at most 50 handlers running at once inside the batch (its best throughput)`,
    sequential: 'await boss.send(queue, data), one at a time',
    latency: `worker in the same process, pollingIntervalSeconds ${PGBOSS_POLLING_SECONDS} (the minimum): pg-boss 10 polls, it has no LISTEN/NOTIFY wake-up`,
    wakeup: `producer in the bench process, worker in a child process; polling every ${PGBOSS_POLLING_SECONDS} s`,
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  async bulkEnqueue(_ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult> {
    const boss = await freshBoss()
    try {
      return await timeChunks(`insert ×${chunk.toLocaleString('en-US')}`, jobs, chunk, timeLimitMs, (first, size) =>
        boss.insert(Array.from({ length: size }, (_, k) => ({ name: PGBOSS_QUEUE, data: { i: first + k } satisfies BenchPayload }))),
      )
    } finally {
      await stopBoss(boss)
      await dropSchema(PGBOSS_SCHEMA)
    }
  }

  async drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const results: DrainResult[] = []
    for (const batchSize of [concurrency, 1_000]) {
      const boss = await freshBoss()
      try {
        for (let first = 0; first < jobs; first += 10_000) {
          const size = Math.min(10_000, jobs - first)
          await boss.insert(Array.from({ length: size }, (_, k) => ({ name: PGBOSS_QUEUE, data: { i: first + k } satisfies BenchPayload })))
        }
      } finally {
        await stopBoss(boss)
      }
      try {
        const variant = batchSize === concurrency ? `work({ batchSize: ${batchSize} })` : `work({ batchSize: ${batchSize} }), ≤ ${concurrency} handlers at once`
        results.push(
          await drainInChild(ctx, variant, WORKER_SCRIPT, { mode: 'drain', jobs, concurrency, options: { batchSize } }, timeLimitMs),
        )
      } finally {
        await dropSchema(PGBOSS_SCHEMA)
      }
    }
    return results
  }

  async sequentialEnqueue(_ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult> {
    const boss = await freshBoss()
    try {
      return await timeSequential('await boss.send()', jobs, timeLimitMs, (i) => boss.send(PGBOSS_QUEUE, { i } satisfies BenchPayload))
    } finally {
      await stopBoss(boss)
      await dropSchema(PGBOSS_SCHEMA)
    }
  }

  async latencyInProcess(_ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const boss = await freshBoss()
    const signals = new StartSignals()
    try {
      await boss.work<BenchPayload>(PGBOSS_QUEUE, { batchSize: 50, pollingIntervalSeconds: PGBOSS_POLLING_SECONDS }, async (jobs) => {
        for (const job of jobs) signals.started(job.data.seq!)
      })
      await sleep(100)
      return await latencyInProcess(`same process, polling ${PGBOSS_POLLING_SECONDS} s`, pollPlan(plan), signals, (seq) =>
        boss.send(PGBOSS_QUEUE, { seq } satisfies BenchPayload),
      )
    } finally {
      await stopBoss(boss)
      await dropSchema(PGBOSS_SCHEMA)
    }
  }

  async wakeupAcrossProcesses(_ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const boss = await freshBoss()
    const child = new WorkerChild(WORKER_SCRIPT, { mode: 'wakeup', jobs: 0, concurrency: 50, options: { batchSize: 50 } })
    try {
      await child.next('ready', 60_000)
      const result = await wakeupAcross(`producer here, worker in a child, polling ${PGBOSS_POLLING_SECONDS} s`, pollPlan(plan), child, (seq, sentAt) =>
        boss.send(PGBOSS_QUEUE, { seq, sentAt } satisfies BenchPayload),
      )
      await child.stop()
      return result
    } finally {
      child.kill()
      await stopBoss(boss)
      await dropSchema(PGBOSS_SCHEMA)
    }
  }
}
