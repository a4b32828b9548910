/**
 * Messages between the bench (parent) and a worker process it spawned, over Node's IPC channel.
 * Every timestamp is wall-clock milliseconds from `wallNow()`, so parent and child can compare them.
 */

/** What a worker process is asked to do, passed as JSON in argv[2]. */
export interface WorkerConfig {
  mode: 'drain' | 'wakeup'
  /** Jobs expected in `drain` mode. */
  jobs: number
  concurrency: number
  /** System-specific settings (store file, queue name, schema, batch size …). */
  options: Record<string, string | number | boolean>
}

export type ToChild =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'ping'; sentAt: number }

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

export type FromChild =
  | { type: 'ready'; at: number }
  | { type: 'started'; seq: number; sentAt: number; at: number; detail?: Record<string, number> }
  /** The store shows every job completed (sent again if a recount moved that moment). */
  | { type: 'completed' }
  | { type: 'done'; report: DrainReport }
  | { type: 'pong'; sentAt: number; at: number }
  | { type: 'error'; message: string }
  | { type: 'stopped' }
