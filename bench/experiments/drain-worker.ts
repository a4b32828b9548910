import { createOffload } from '../../src/index.js'
import { childMain, DrainTracker } from '../workers/child.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from '../workers/names.js'
import { tunedStore } from './tuned-store.js'

// workers/offload.ts's drain, on a store with a tuning applied (experiments/variants.ts).
childMain(async (config, send) => {
  const store = tunedStore(String(config.options.file), { tempStoreMemory: config.options.tempStoreMemory === true })
  const offload = createOffload({ store, logger: false })
  const tracker = new DrainTracker(config.jobs, send, {
    done: async (lastJobId) => (await offload.getJob(lastJobId))?.state === 'completed',
    count: async () => (await offload.countJobs()).filter((row) => row.state === 'completed').reduce((sum, row) => sum + row.count, 0),
  })
  offload.task<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: (_payload, ctx) => tracker.handle(ctx.jobId) })
  await offload.migrate()
  return {
    start: async () => {
      tracker.begin()
      await offload.work({ concurrency: config.concurrency, handleSignals: false })
    },
    stop: async () => {
      await offload.close()
      await store.close()
    },
    progress: () => tracker.progress(),
  }
})
