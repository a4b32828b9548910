import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { BULLMQ_PREFIX, REDIS } from '../workers/names.js'
import { setUpOrRemove, type BenchSystem, type ScenarioContext, type Space } from './system.js'

/**
 * BullMQ on the local Redis. Redis here runs without RDB or AOF persistence, so an acknowledged
 * `add` lives only in memory: BullMQ's figures are for acknowledgements that are not durable.
 */
export class BullmqSystem implements BenchSystem {
  readonly name = 'bullmq'
  readonly title = 'BullMQ (Redis)'
  readonly durableAcks = 'NO: Redis on this machine has no AOF and no RDB snapshots, so acknowledged jobs are in memory only'
  readonly workerScript = 'bench/workers/bullmq.ts'
  readonly shapes = [{ suffix: '', options: {} }]
  readonly settings = {
    connection: `{ host: '127.0.0.1', port: 6379 } (workers: maxRetriesPerRequest: null, as the docs require); prefix '${BULLMQ_PREFIX}'; a new queue per step, obliterated after`,
    enqueue: "queue.add('noop', data); bulk: queue.addBulk(items); default job options (completed jobs kept, as Offload keeps them)",
    worker: 'new Worker(queue, handler, { concurrency }) in its own process, other options default',
    wakeup: "the Worker's blocking connection (BZPOPMIN on the marker set)",
  }
  private queueCount = 0

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

  async fresh(ctx: ScenarioContext, step: string): Promise<Space> {
    const name = `${step}-${ctx.runId}-${++this.queueCount}`
    const queue = new Queue(name, { connection: { ...REDIS }, prefix: BULLMQ_PREFIX })
    const remove = async (): Promise<void> => {
      try {
        await queue.obliterate({ force: true })
      } finally {
        await queue.close()
      }
    }
    await setUpOrRemove(() => queue.waitUntilReady(), remove)
    return {
      options: { queue: name },
      enqueue: (payload) => queue.add('noop', payload),
      enqueueMany: (payloads) => queue.addBulk(payloads.map((data) => ({ name: 'noop', data }))),
      remove,
    }
  }
}
