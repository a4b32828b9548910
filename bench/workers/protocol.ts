/**
 * Messages between the bench (parent) and a worker process it spawned, over Node's IPC channel.
 * Every timestamp is wall-clock milliseconds from `wallNow()`, so parent and child can compare them.
 */
import type { LatencySummary } from '../lib/stats.js'

/**
 * What a child process is asked to do, passed as JSON in argv[2].
 * - `drain`: run handlers that only count; report progress; confirm completion in the store.
 * - `wakeup`: report each handler start at once (`started`), for latency samples.
 * - `mixed`: keep each job's enqueue → start latency locally; report them when stopped.
 * - `produce`: enqueue single jobs from `producers` concurrent loops until stopped.
 * - `http-load`: the load generator of the `http` step (`workers/http-load.ts`), not a system's
 *   worker: `concurrency` keep-alive connections POST to a server; options in `HttpLoadOptions`.
 */
export interface WorkerConfig {
  mode: 'drain' | 'wakeup' | 'mixed' | 'produce' | 'http-load'
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

/** `http-load`'s settings (`WorkerConfig.options`); a type, not an interface, so it fits that record. */
export type HttpLoadOptions = {
  /** The endpoint, e.g. `http://127.0.0.1:41234/v1/jobs`. */
  url: string
  /** The JSON body of every request (one job). */
  body: string
  /** Requests of the warm-up, whose rate sizes the measured stretch. */
  warmupRequests: number
  /** About how long the measured stretch lasts: its request count is the warm-up rate × this. */
  seconds: number
  /** The measured stretch is stopped after this, requests in flight or not. */
  timeLimitMs: number
}

/** The only answer an enqueue over HTTP may get: any other status, or none, fails the step. */
export const HTTP_ACCEPTED = 202

/** One stretch of `http-load`: every response it received, and what went wrong. */
export interface HttpLoadReport {
  /** Requests sent: every one is answered unless `cut`. */
  requests: number
  /** Responses received by status code. */
  statuses: Record<string, number>
  /** Connection errors and timeouts (a request that got no response). */
  errors: number
  /** First request sent → last response received. */
  ms: number
  /**
   * Responses per second over the second half of them: the warm-up's sizes the measured stretch,
   * since its first half is slower (connections opening, the server's code being compiled).
   */
  lateRate: number
  /** Request sent → response received, over the responses of this stretch, ms. */
  latency: LatencySummary
  /** Stopped by the time limit or by a failure, with up to one request per connection unanswered. */
  cut: boolean
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
  /** `http-load`: the measured stretch begins (the warm-up is over) and ends (its last response). */
  | { type: 'http-phase'; phase: 'measuring' | 'measured'; at: number }
  | { type: 'http-load'; warmup: HttpLoadReport; measured: HttpLoadReport }
  | { type: 'pong'; sentAt: number; at: number }
  | { type: 'error'; message: string }
  | { type: 'stopped' }
