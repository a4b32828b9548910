import { createOffload } from '../../src/index.js'
import { wallNow } from '../lib/clock.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from './names.js'
import { childMain, DrainTracker } from './child.js'

// One Offload worker process, as an application would run it: its own instance on the shared file.
childMain(async (config, send) => {
  const offload = createOffload({ store: `sqlite:${String(config.options.file)}`, logger: false })
  const tracker = new DrainTracker(config.jobs, send, {
    // Outcomes are written in the order handlers finish, so the last job completed means all did;
    // `count` confirms it.
    done: async (lastJobId) => (await offload.getJob(lastJobId))?.state === 'completed',
    count: async () => (await offload.countJobs()).filter((row) => row.state === 'completed').reduce((sum, row) => sum + row.count, 0),
  })
  offload.task<BenchPayload, void>(OFFLOAD_TASK, {
    queue: OFFLOAD_QUEUE,
    run:
      config.mode === 'drain'
        ? (_payload, ctx) => tracker.handle(ctx.jobId)
        : (payload) => {
            const at = wallNow()
            send({ type: 'started', seq: payload.seq!, sentAt: payload.sentAt!, at })
          },
  })
  await offload.migrate()
  return {
    start: async () => {
      tracker.begin()
      await offload.work({ concurrency: config.concurrency, handleSignals: false })
    },
    stop: () => offload.close(),
    progress: () => tracker.progress(),
  }
})
