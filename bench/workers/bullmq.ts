import { Queue, Worker } from 'bullmq'
import { systemChild } from './child.js'
import { BULLMQ_PREFIX, REDIS, type BenchPayload } from './names.js'

// One BullMQ worker process with the documented set-up: a Worker with `concurrency`, its
// connection with maxRetriesPerRequest: null. It connects before the timing and runs on `start`.
systemChild(async (config) => {
  const name = String(config.options.queue)
  const queue = new Queue(name, { connection: { ...REDIS }, prefix: BULLMQ_PREFIX })
  let handle: (payload: BenchPayload, jobId: string) => void = () => {}
  const worker =
    config.mode === 'produce'
      ? undefined
      : new Worker<BenchPayload>(name, async (job) => handle(job.data, job.id!), {
          connection: { ...REDIS, maxRetriesPerRequest: null },
          prefix: BULLMQ_PREFIX,
          concurrency: config.concurrency,
          autorun: false,
        })
  await Promise.all([queue.waitUntilReady(), worker?.waitUntilReady()])
  return {
    work: async (run) => {
      handle = run
      // run() resolves only when the worker closes.
      void worker!.run()
    },
    enqueue: (payload) => queue.add('noop', payload),
    // A job counts as completed once moveToFinished put it in the completed set.
    completed: () => queue.getCompletedCount(),
    close: async () => {
      await worker?.close(true)
      await queue.close()
    },
  }
})
