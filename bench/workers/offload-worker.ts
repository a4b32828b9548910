import { createOffload, type Offload, type Store } from '../../src/index.js'
import { wallNow } from '../lib/clock.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from './names.js'
import { childMain, DrainTracker } from './child.js'
import type { WorkerConfig } from './protocol.js'

async function completedJobs(offload: Offload): Promise<number> {
  return (await offload.countJobs()).filter((row) => row.state === 'completed').reduce((sum, row) => sum + row.count, 0)
}

/**
 * One Offload worker process, as an application would run it: its own instance on the store the
 * bench made. `storeFor` gives the store: a URL (`workers/offload.ts`), or a Store an experiment
 * wrapped; `stopped` runs after the instance closed.
 */
export function offloadWorker(storeFor: (config: WorkerConfig) => string | Store, stopped: () => Promise<void> = async () => {}): void {
  childMain(async (config, send) => {
    const offload = createOffload({ store: storeFor(config), logger: false })
    // Jobs completed before the drain (the history scenario keeps many) are not the drain's.
    let before = 0
    const tracker = new DrainTracker(config.jobs, send, {
      // Outcomes are written in the order handlers finish, so the last job completed means all did;
      // `count` confirms it.
      done: async (lastJobId) => (await offload.getJob(lastJobId))?.state === 'completed',
      count: async () => (await completedJobs(offload)) - before,
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
    if (config.mode === 'drain') before = await completedJobs(offload)
    return {
      start: async () => {
        tracker.begin()
        await offload.work({ concurrency: config.concurrency, handleSignals: false })
      },
      stop: async () => {
        await offload.close()
        await stopped()
      },
      progress: () => tracker.progress(),
    }
  })
}
