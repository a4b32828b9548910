import { Logger } from 'graphile-worker'

/** Errors only: Graphile's info lines would drown the bench's output. */
export const graphileLogger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`)
})

/**
 * The batching Graphile Worker's performance page recommends for throughput: fetch jobs for the
 * whole pool in one query (local queue) and batch completions.
 */
export const GRAPHILE_THROUGHPUT_PRESET = {
  worker: {
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
}
