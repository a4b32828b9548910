import type { CpuSplit } from '../lib/cpu.js'
import type { LatencySummary } from '../lib/stats.js'
import type { BenchPayload } from '../workers/names.js'

/** `offload` is Offload on its embedded SQLite store; `offload-pg` is Offload on PostgreSQL. */
export const SYSTEMS = ['offload', 'offload-pg', 'bullmq', 'pgboss', 'graphile'] as const
export type SystemName = (typeof SYSTEMS)[number]

export interface ScenarioContext {
  quick: boolean
  /** A fresh directory on the real disk for this run's SQLite files; deleted at the end. */
  tmpDir: string
  /** Set with `--profile`: where `.cpuprofile` files go. */
  profileDir: string | undefined
  /** Unique per run, for queue names and file names. */
  runId: string
  log(line: string): void
}

/** Settings a worker or producer process is started with (store URL, queue name, preset …). */
export type ChildOptions = Record<string, string | number | boolean>

/**
 * A way to run a system's workers. Most systems have one; Graphile Worker is measured both with
 * the batching its docs recommend for throughput and at its defaults.
 */
export interface WorkerShape {
  /** Appended to the variant ("c=50 · defaults"); empty for the shape every other scenario uses. */
  suffix: string
  options: ChildOptions
  /** Jobs are enqueued spread round-robin over this many groups (a system with groups: Offload). */
  groups?: number
}

/**
 * One fresh, empty queue of a system for one step — a new SQLite file, PostgreSQL schema or Redis
 * queue — with a producer in the bench process connected to it.
 */
export interface Space {
  /** What every worker or producer process on this queue is given. */
  readonly options: ChildOptions
  /** One job, resolving when the system acknowledged it. */
  enqueue(payload: BenchPayload): Promise<unknown>
  /** One call of the system's bulk API; with `groups`, job i goes to group i mod groups. */
  enqueueMany(payloads: BenchPayload[], groups?: number): Promise<unknown>
  /** Closes the producer and deletes everything the queue held, also after a failed step. */
  remove(): Promise<void>
  /** Jobs the queue holds, whatever their state: what the `http` step checks its 202s against. */
  jobCount?(): Promise<number>
}

/**
 * A system's own HTTP API (Offload's `offload serve`). The `http` step runs only for systems that
 * have one: the peers have none.
 */
export interface HttpApi {
  /**
   * What follows `node --import tsx` to serve `space`'s queue on 127.0.0.1 at a port of the
   * system's choosing, and the environment it runs in (the bench's, with these set, or removed
   * where `undefined`): the process prints `{"type":"listening","url":…}` as its first line and
   * stops on SIGTERM.
   */
  server(space: Space): { args: string[]; env: Record<string, string | undefined> }
  /** The request that enqueues one no-op job: POSTed as JSON to `path`, answered 202. */
  enqueue: { path: string; body: string }
}

/**
 * One queue system under test, through the same adapter for all: the scenarios in `lib/steps.ts`
 * are written once against it. Each system is used the way its documentation recommends, and
 * `settings` says exactly how.
 */
export interface BenchSystem {
  readonly name: SystemName
  readonly title: string
  readonly settings: Record<string, string>
  readonly durableAcks: string
  /** `bench/workers/<system>.ts`: its worker and producer processes. */
  readonly workerScript: string
  /** The worker set-ups a drain measures; the first is the one every other scenario uses. */
  readonly shapes: readonly WorkerShape[]
  /** Set when the system has an HTTP API of its own; its `fresh` spaces then have `jobCount`. */
  readonly http?: HttpApi
  /** Checks the service is reachable and returns its version, e.g. `PostgreSQL 15.20`. */
  probe(): Promise<Record<string, string>>
  fresh(ctx: ScenarioContext, step: string): Promise<Space>
}

/**
 * Runs a fresh queue's set-up; if it fails, deletes what was made so far and rethrows — a step
 * that never got its queue must not leave a schema, file or Redis keys behind.
 */
export async function setUpOrRemove<T>(setUp: () => Promise<T>, remove: () => Promise<void>): Promise<T> {
  try {
    return await setUp()
  } catch (error) {
    await remove()
    throw error
  }
}

/** One figure a step measured: a throughput, a latency distribution, or both (mixed load). */
export interface Measurement {
  /** The same text for the same work in every system ("c=50", "2 processes", "drain 1 KiB"). */
  variant: string
  /** Jobs per second. */
  rate?: number
  jobs?: number
  ms?: number
  /** Enqueue → handler start, ms. */
  latency?: LatencySummary
  /** Cut by its time limit: `jobs` is what was done by then. */
  partial: boolean
  /** CPU by process class over the timed span. */
  cpu?: CpuSplit
  notes?: string[]
  /** Why the figure may not be the system's own: other work on the machine during the step. */
  disturbed?: string
  /** With `--profile`: the CPU profile of this row's worker process. */
  profile?: string
}
