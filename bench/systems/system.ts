import type { LatencySummary } from '../lib/stats.js'

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

/** Jobs per second over a timed stretch. */
export interface RateResult {
  /** What distinguishes this row: the API and its batch size or worker settings. */
  variant: string
  jobs: number
  ms: number
  rate: number
  /** True when the time limit cut the scenario short; `jobs` is what was done by then. */
  partial: boolean
  notes?: string[]
  /** With `--profile`: the CPU profile of this row's run. */
  profile?: string
  /**
   * Not the system itself but a baseline measured beside it in the same run, named here
   * (`pgbench`, `node-pg`): the report judges the system's figure against the one its target names.
   */
  reference?: string
}

export interface DrainResult extends RateResult {
  /** Worker start → first handler, and → last handler, in ms. */
  firstHandlerMs: number
  lastHandlerMs: number
  /** Spawn → worker process ready (connected, untimed). */
  bootMs: number
  /** CPU spent over the timed span, where it could be measured (see `lib/cpu.ts`). */
  cpu?: DrainCpu
}

/** Where a drain's CPU went, in ms: the worker process, the database server, the whole machine. */
export interface DrainCpu {
  /** The worker process, all its threads (`process.cpuUsage()`). */
  workerMs: number
  /** Server processes by name (`postgres`, `redis-server`), summed over their processes. */
  serverMs: Record<string, number>
  /** Busy CPU time of the whole machine (all cores, anyone's), and the cores. */
  machineBusyMs: number
  cores: number
  /**
   * The span these figures cover: start → the store showing every job completed, or → the report
   * of a drain cut by its time limit (then longer than the row's `ms`).
   */
  spanMs: number
}

export interface LatencyResult {
  variant: string
  summary: LatencySummary
  /** Samples in ms, in the order measured (warm-up excluded). */
  samples: number[]
  partial: boolean
  /** Across processes: the estimated offset between the two wall clocks. */
  clock?: { offsetMs: number; uncertaintyMs: number }
  notes?: string[]
  profile?: string
}

export interface LatencyPlan {
  samples: number
  warmup: number
  /** Idle time after each job so the worker is waiting when the next arrives. */
  pauseMs: number
  /**
   * A random extra pause, uniform in [0, jitterMs], so arrivals do not lock onto the phase of a
   * worker's timer (a poll loop would otherwise see every job just after, or just before, a poll).
   */
  jitterMs: number
  timeLimitMs: number
}

/**
 * One queue system under test. Each scenario method builds its own fresh state (a new database
 * file, queue or schema), measures, and removes what it made — also when it throws.
 */
export interface BenchSystem {
  readonly name: SystemName
  readonly title: string
  /** How the system is configured in each scenario, printed in the report and stored in the JSON. */
  readonly settings: Record<string, string>
  readonly durableAcks: string
  /** The local server process it talks to (`postgres`, `redis-server`), whose CPU a drain reports. */
  readonly server?: string
  /** Bulk enqueue: batch sizes to try; the best is compared. */
  readonly bulkChunks: readonly number[]
  /** Checks the service is reachable and returns its version, e.g. `PostgreSQL 15.20`. */
  probe(): Promise<Record<string, string>>
  bulkEnqueue(ctx: ScenarioContext, jobs: number, chunk: number, timeLimitMs: number): Promise<RateResult>
  drain(ctx: ScenarioContext, jobs: number, concurrency: number, timeLimitMs: number): Promise<DrainResult[]>
  sequentialEnqueue(ctx: ScenarioContext, jobs: number, timeLimitMs: number): Promise<RateResult>
  latencyInProcess(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult>
  wakeupAcrossProcesses(ctx: ScenarioContext, plan: LatencyPlan): Promise<LatencyResult>
  /**
   * Baselines for the system's sequential enqueue, measured just before it (Offload on PostgreSQL:
   * one client committing one INSERT at a time, from pgbench and from node-pg). Systems without
   * any omit it.
   */
  sequentialReferences?(ctx: ScenarioContext): Promise<RateResult[]>
  /**
   * Drain with a long history kept in the store against the same drain on an empty store: two
   * rows or more, the empty one first. Only systems with a history target implement it.
   */
  history?(ctx: ScenarioContext, plan: HistoryPlan, concurrency: number, timeLimitMs: number): Promise<DrainResult[]>
}

export interface HistoryPlan {
  /** Finished jobs put in the store before the drain. */
  finishedJobs: number
  /** Queued jobs drained, as in the drain scenario. */
  drainJobs: number
}
