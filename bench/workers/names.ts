/** Names the bench process and its worker processes must agree on. */

export const OFFLOAD_TASK = 'bench.noop'
export const OFFLOAD_QUEUE = 'bench'

/** Every job carries one of these: `i` in throughput scenarios, `seq`/`sentAt` in latency ones. */
export interface BenchPayload {
  i?: number
  seq?: number
  /** Producer's wall clock when it called enqueue, for cross-process latency. */
  sentAt?: number
  /** The payload-size variants' filler: incompressible text of the size asked for. */
  pad?: string
}

export const REDIS = { host: '127.0.0.1', port: 6379 } as const
export const BULLMQ_PREFIX = 'offload-bench'

/** Trust auth on loopback; the bench owns the schemas below and drops them each run. */
export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const PGBOSS_SCHEMA = 'bench_pgboss'
export const PGBOSS_QUEUE = 'bench-noop'
/** pg-boss 10 refuses anything shorter (its MIN_POLLING_INTERVAL_MS is 500). */
export const PGBOSS_POLLING_SECONDS = 0.5
export const GRAPHILE_SCHEMA = 'bench_graphile'
/** Offload's PostgreSQL store (`?schema=`), and pgbench's scratch table for the sequential reference. */
export const OFFLOAD_PG_SCHEMA = 'bench_offload'
export const PGBENCH_SCHEMA = 'bench_pgbench'
export const GRAPHILE_TASK = 'noop'
