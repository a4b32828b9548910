/**
 * Messages between the bench (parent) and a worker process it spawned, over Node's IPC channel.
 * Every timestamp is wall-clock milliseconds from `wallNow()`, so parent and child can compare them.
 */

/**
 * What a child process is asked to do, passed as JSON in argv[2].
 * - `drain`: run handlers that only count; report progress; confirm completion in the store.
 * - `wakeup`: report each handler start at once (`started`), for latency samples.
 * - `mixed`: keep each job's enqueue → start latency locally; report them when stopped.
 * - `produce`: enqueue single jobs from `producers` concurrent loops until stopped.
 */
export interface WorkerConfig {
  mode: 'drain' | 'wakeup' | 'mixed' | 'produce'
  /** Jobs in the queue for `drain`: the child that ran the last of them confirms completion. */
  jobs: number
  concurrency: number
  /** System-specific settings (store URL, queue name, schema, batch size, preset …). */
  options: Record<string, string | number | boolean>
}

export type ToChild =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'ping'; sentAt: number }
  /** Several drain processes: the parent saw `jobs` handled in all; wait until the store shows them completed. */
  | { type: 'confirm'; jobs: number }

export interface DrainReport {
  /** Jobs whose handler ran. */
  handled: number
  /** Jobs the store shows as completed when the report was made. */
  completed: number
  /** Just before the worker API was called. */
  startedAt: number
  firstHandlerAt: number
  lastHandlerAt: number
  /** When the store showed every job completed (only when `handled` reached the target). */
  completedAt: number | undefined
  partial: boolean
  /** CPU ms this worker process spent (all threads) from the start until the report. */
  cpuMs: number
}

/** What a `mixed` worker or a `produce` child saw by the time it was stopped. */
export interface LoadReport {
  /** Handlers run (`mixed`) or enqueues acknowledged (`produce`). */
  count: number
  /** `mixed`: enqueue → handler start of a uniform sample of the jobs, ms. */
  latencies: number[]
}

export type FromChild =
  | { type: 'ready'; at: number }
  | { type: 'started'; seq: number; sentAt: number; at: number; detail?: Record<string, number> }
  /** Drain: handlers run so far by this process, sent at most every couple of milliseconds. */
  | { type: 'handled'; count: number }
  /** The store shows every job completed (sent again if a recount moved that moment). */
  | { type: 'completed'; at: number }
  | { type: 'done'; report: DrainReport }
  | { type: 'load'; report: LoadReport }
  | { type: 'pong'; sentAt: number; at: number }
  | { type: 'error'; message: string }
  | { type: 'stopped' }
