import { Queue, Worker } from 'bullmq'
import { wallNow } from '../lib/clock.js'
import { childMain, DrainTracker } from './child.js'
import { BULLMQ_PREFIX, REDIS, type BenchPayload } from './names.js'

// One BullMQ worker process with the documented set-up: a Worker with `concurrency`, its
// connection with maxRetriesPerRequest: null.
childMain(async (config, send) => {
  const name = String(config.options.queue)
  const queue = new Queue(name, { connection: { ...REDIS }, prefix: BULLMQ_PREFIX })
  const tracker = new DrainTracker(config.jobs, send, {
    // A job counts as completed once moveToFinished put it in the completed set.
    done: async () => (await queue.getCompletedCount()) >= config.jobs,
    count: () => queue.getCompletedCount(),
  })
  const worker = new Worker<BenchPayload>(
    name,
    config.mode === 'drain'
      ? async (job) => tracker.handle(job.id!)
      : async (job) => {
          const at = wallNow()
          send({ type: 'started', seq: job.data.seq!, sentAt: job.data.sentAt!, at })
        },
    { connection: { ...REDIS, maxRetriesPerRequest: null }, prefix: BULLMQ_PREFIX, concurrency: config.concurrency, autorun: false },
  )
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()])
  return {
    start: async () => {
      tracker.begin()
      // run() resolves only when the worker closes.
      void worker.run()
    },
    stop: async () => {
      await worker.close(true)
      await queue.close()
    },
    progress: () => tracker.progress(),
  }
})
