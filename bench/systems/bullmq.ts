import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { WorkerChild } from '../lib/children.js'
import { sleep } from '../lib/clock.js'
import { drainInChild, latencyInProcess, StartSignals, timeChunks, timeSequential, wakeupAcross } from '../lib/measure.js'
import { BULLMQ_PREFIX, REDIS, type BenchPayload } from '../workers/names.js'
import type { BenchSystem, DrainResult, LatencyPlan, LatencyResult, RateResult, ScenarioContext } from './system.js'

const WORKER_SCRIPT = 'bench/workers/bullmq.ts'
const JOB_NAME = 'noop'

/**
 * BullMQ on the local Redis. Redis here runs without RDB or AOF persistence, so an acknowledged
 * `add` lives only in memory: BullMQ's figures are for acknowledgements that are not durable.
 */
export class BullmqSystem implements BenchSystem {
  readonly name = 'bullmq'
  readonly title = 'BullMQ (Redis)'
  readonly durableAcks = 'NO: Redis on this machine has no AOF and no RDB snapshots, so acknowledged jobs are in memory only'
  readonly server = 'redis-server'
  readonly bulkChunks = [1_000, 10_000]
  readonly settings = {
    connection: "{ host: '127.0.0.1', port: 6379 } (workers: maxRetriesPerRequest: null, as the docs require); prefix 'offload-bench'",
    bulk: 'queue.addBulk(chunk), chunks awaited one after another; default job options (completed jobs kept, as Offload keeps them)',
    drain: 'child process: new Worker(queue, handler, { concurrency: 50 }), other options default',
    sequential: 'await queue.add(name, data), one at a time',
    latency: 'Worker in the same process, concurrency 50; woken by its blocking connection',
    wakeup: 'producer in the bench process, Worker in a child process; woken by its blocking connection',
  }
  private queueCount = 0

  private queueName(ctx: ScenarioContext, scenario: string): string {
    return `${scenario}-${ctx.runId}-${++this.queueCount}`
  }

  private queue(name: string): Queue {
    return new Queue(name, { connection: { ...REDIS }, prefix: BULLMQ_PREFIX })
  }

  private async dispose(queue: Queue): Promise<void> {
    try {
      await queue.obliterate({ force: true })
    } finally {
      await queue.close()
    }
  }

  async probe(): Promise<Record<string, string>> {
    const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await redis.connect()
      const info = await redis.info('server')
      const persistence = await redis.info('persistence')
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
      const aof = /aof_enabled:(\d)/.exec(persistence)?.[1] === '1'
      const save = ((await redis.config('GET', 'save')) as string[])[1] ?? ''
      return { redis: `${version} (aof ${aof ? 'on' : 'off'}, rdb save '${save}')` }
    } finally {
      redis.disconnect()
    }
  }

  async bulkEnqueue(ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult> {
    const queue = this.queue(this.queueName(ctx, 'bulk'))
    try {
      await queue.waitUntilReady()
      return await timeChunks(`addBulk ×${chunk.toLocaleString('en-US')}`, jobs, chunk, timeLimitMs, (first, size) =>
        queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: JOB_NAME, data: { i: first + k } satisfies BenchPayload }))),
      )
    } finally {
      await this.dispose(queue)
    }
  }

  async drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]> {
    const name = this.queueName(ctx, 'drain')
    const queue = this.queue(name)
    try {
      for (let first = 0; first < jobs; first += 1_000) {
        const size = Math.min(1_000, jobs - first)
        await queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: JOB_NAME, data: { i: first + k } satisfies BenchPayload })))
      }
      const result = await drainInChild(
        ctx,
        `Worker({ concurrency: ${concurrency} })`,
        WORKER_SCRIPT,
        { mode: 'drain', jobs, concurrency, options: { queue: name } },
        timeLimitMs,
      )
      return [result]
    } finally {
      await this.dispose(queue)
    }
  }

  async sequentialEnqueue(ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult> {
    const queue = this.queue(this.queueName(ctx, 'sequential'))
    try {
      await queue.waitUntilReady()
      return await timeSequential('await queue.add()', jobs, timeLimitMs, (i) => queue.add(JOB_NAME, { i } satisfies BenchPayload))
    } finally {
      await this.dispose(queue)
    }
  }

  async latencyInProcess(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const name = this.queueName(ctx, 'latency')
    const queue = this.queue(name)
    const signals = new StartSignals()
    const worker = new Worker<BenchPayload>(
      name,
      async (job) => {
        signals.started(job.data.seq!)
      },
      { connection: { ...REDIS, maxRetriesPerRequest: null }, prefix: BULLMQ_PREFIX, concurrency: 50 },
    )
    try {
      await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()])
      // Let the worker reach its blocking wait for jobs.
      await sleep(100)
      return await latencyInProcess('same process, Worker({ concurrency: 50 })', plan, signals, (seq) =>
        queue.add(JOB_NAME, { seq } satisfies BenchPayload),
      )
    } finally {
      await worker.close(true)
      await this.dispose(queue)
    }
  }

  async wakeupAcrossProcesses(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult> {
    const name = this.queueName(ctx, 'wakeup')
    const queue = this.queue(name)
    const child = new WorkerChild(WORKER_SCRIPT, { mode: 'wakeup', jobs: 0, concurrency: 50, options: { queue: name } })
    try {
      await Promise.all([queue.waitUntilReady(), child.next('ready', 60_000)])
      const result = await wakeupAcross('producer here, Worker in a child process', plan, child, (seq, sentAt) =>
        queue.add(JOB_NAME, { seq, sentAt } satisfies BenchPayload),
      )
      await child.stop()
      return result
    } finally {
      child.kill()
      await this.dispose(queue)
    }
  }
}
