/**
 * The task module the `http` step's `offload serve --tasks` loads: the bench's no-op task, under
 * the name and queue every other Offload step uses. The server only enqueues it; nothing runs it.
 */
import { defineTask } from '../../src/index.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from './names.js'

export const noop = defineTask<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: () => {} })
