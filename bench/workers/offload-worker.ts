import { createOffload, type Offload, type QueueOptions, type Store } from '../../src/index.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from './names.js'
import { systemChild } from './child.js'
import type { WorkerConfig } from './protocol.js'

/** The queue settings of a drain shape's `flow` option (see OffloadStoreSystem.shapes). */
function flowQueues(config: WorkerConfig): Record<string, QueueOptions> | undefined {
  switch (config.options.flow) {
    case 'concurrency':
      return { [OFFLOAD_QUEUE]: { concurrency: config.concurrency } }
    case 'concurrency-1000':
      return { [OFFLOAD_QUEUE]: { concurrency: 1_000 } }
    case 'groups':
      return { [OFFLOAD_QUEUE]: { groupConcurrency: 5 } }
    default:
      return undefined
  }
}

async function completedJobs(offload: Offload): Promise<number> {
  return (await offload.countJobs()).filter((row) => row.state === 'completed').reduce((sum, row) => sum + row.count, 0)
}

/**
 * One Offload worker process, as an application would run it: its own instance on the store the
 * bench made. `storeFor` gives the store: a URL (`workers/offload.ts`), or a Store an experiment
 * wrapped; `stopped` runs after the instance closed.
 */
export function offloadWorker(storeFor: (config: WorkerConfig) => string | Store, stopped: () => Promise<void> = async () => {}): void {
  systemChild(async (config) => {
    const offload = createOffload({ store: storeFor(config), logger: false, queues: flowQueues(config) })
    let handle: (payload: BenchPayload, jobId: string) => void = () => {}
    const task = offload.task<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: (payload, ctx) => handle(payload, ctx.jobId) })
    await offload.migrate()
    // Jobs completed before the drain (a store keeping history) are not the drain's.
    const before = config.mode === 'drain' ? await completedJobs(offload) : 0
    return {
      work: async (run) => {
        handle = run
        await offload.work({ concurrency: config.concurrency, handleSignals: false })
      },
      enqueue: (payload) => task.enqueue(payload),
      completed: async () => (await completedJobs(offload)) - before,
      // Outcomes are written in the order handlers finish, so the last job completed means all did;
      // the count confirms it.
      isCompleted: async (jobId) => (await offload.getJob(jobId))?.state === 'completed',
      close: async () => {
        await offload.close()
        await stopped()
      },
    }
  })
}
