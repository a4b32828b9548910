import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { BreakerMetrics } from '../breaker/breaker-metrics.js'
import { checkBoolean, checkNumber, checkObject, checkOptions } from '../config.js'
import { JOB_STATES, type JobEvent } from '../job.js'
import type { Offload } from '../offload.js'

/** Where the metrics hear of events: the server's `EventHub` (one tail of the log per process). */
export interface EventFeed {
  subscribe(listener: (events: readonly JobEvent[]) => void): () => void
}

export interface MetricsOptions {
  /**
   * How many jobs' start and ready times are remembered for the run- and wait-time histograms.
   * Past it the oldest are forgotten (their jobs are then not observed), so memory stays bounded
   * whatever happens to jobs this server never sees end. @defaultValue 100000
   */
  maxTrackedJobs?: number
  /**
   * Add the process's own metrics (CPU, memory, event loop lag, GC) as `offload_process_*` and
   * `offload_nodejs_*`. They are collected once per process, whatever the number of servers.
   * @defaultValue true
   */
  processMetrics?: boolean
  /** The clock of the `offload_workers` window, epoch milliseconds; for tests. @defaultValue `Date.now` */
  now?: () => number
}

const METRICS_OPTIONS = ['maxTrackedJobs', 'processMetrics', 'now'] as const
const WORKER_WINDOW_MS = 60_000
/** From a no-op handler's few milliseconds to an hour-long export. */
const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
/** Waits reach further: a backlog can hold jobs for hours. */
const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400]

/**
 * The Prometheus metrics of one server, in a `Registry` of its own — never prom-client's global
 * one, so two servers in one process (tests, an app embedding two) do not clash.
 *
 * Two sources. Job and queue gauges are read from the store at each scrape (`listQueues()`), so
 * they are true for the whole store. Counters and histograms come from the event log as the hub
 * tails it: they count the work of every process on the store, from when this server started.
 * Durations are differences of event times, which come from the store's one clock.
 */
export class OffloadMetrics {
  readonly registry = new Registry()
  private readonly unsubscribe: () => void
  private readonly now: () => number
  /**
   * The process's own metrics, or undefined when left out. Taken when the metrics are made, not at
   * the first scrape: the CPU counters count from their registry's making, and made at a scrape
   * they would first report the few microseconds since — nothing of what the server did before.
   */
  private readonly processMetrics: Registry | undefined
  private readonly jobs: Gauge<'queue' | 'state'>
  private readonly paused: Gauge<'queue'>
  private readonly oldest: Gauge<'queue'>
  private readonly breakers: BreakerMetrics
  private readonly enqueued: Counter<'queue' | 'task'>
  private readonly completed: Counter<'queue' | 'task'>
  private readonly failed: Counter<'queue' | 'task'>
  private readonly runTime: Histogram<'queue' | 'task'>
  private readonly waitTime: Histogram<'queue' | 'task'>
  /** When each running job's attempt started (event time), for the run-time histogram. */
  private readonly startedAt: BoundedMap<{ at: number; attempt: number }>
  /** When each waiting job became ready to claim (event time), for the wait-time histogram. */
  private readonly readyAt: BoundedMap<number>
  /** Each worker id's latest start, by this server's clock. */
  private readonly workersSeen: BoundedMap<number>
  private scraping: Promise<string> | undefined

  constructor(
    private readonly offload: Offload,
    feed: EventFeed,
    options: MetricsOptions = {},
  ) {
    checkObject(options, 'metrics options')
    checkOptions(options, METRICS_OPTIONS, 'metrics options')
    const tracked =
      options.maxTrackedJobs === undefined ? 100_000 : checkNumber(options.maxTrackedJobs, 'maxTrackedJobs', { integer: true, min: 1 })
    const processMetrics = options.processMetrics === undefined ? true : checkBoolean(options.processMetrics, 'processMetrics')
    this.processMetrics = processMetrics ? processRegistry() : undefined
    this.now = options.now ?? Date.now
    this.startedAt = new BoundedMap(tracked)
    this.readyAt = new BoundedMap(tracked)
    this.workersSeen = new BoundedMap(10_000)

    const registers = [this.registry]
    this.jobs = new Gauge({ name: 'offload_jobs', help: 'Jobs in the store by queue and state, read at scrape.', labelNames: ['queue', 'state'], registers })
    this.paused = new Gauge({ name: 'offload_queue_paused', help: '1 while the queue is paused, else 0.', labelNames: ['queue'], registers })
    this.oldest = new Gauge({
      name: 'offload_queue_oldest_queued_seconds',
      help: 'How long the oldest queued job of the queue has been ready to run; 0 when none is queued.',
      labelNames: ['queue'],
      registers,
    })
    this.breakers = new BreakerMetrics(registers)
    const fromEvents = 'counted from the event log since this server started, for every process on the store'
    const counter = (name: string, help: string): Counter<'queue' | 'task'> =>
      new Counter({ name, help: `${help}, ${fromEvents}.`, labelNames: ['queue', 'task'], registers })
    const histogram = (name: string, help: string, buckets: number[]): Histogram<'queue' | 'task'> =>
      new Histogram({ name, help, labelNames: ['queue', 'task'], buckets, registers })
    this.enqueued = counter('offload_jobs_enqueued_total', 'Jobs enqueued')
    this.completed = counter('offload_jobs_completed_total', 'Jobs completed')
    this.failed = counter(
      'offload_jobs_failed_total',
      'Jobs failed for good (attempts exhausted, a permanent error or a lease lost on the last attempt)',
    )
    this.runTime = histogram(
      'offload_job_run_seconds',
      "Seconds from a job's last start to its completion or final failure, for jobs this server saw start.",
      RUN_BUCKETS,
    )
    this.waitTime = histogram(
      'offload_job_wait_seconds',
      'Seconds a job waited ready in its queue (since enqueued, promoted, retried, released or rescued) before a worker started it.',
      WAIT_BUCKETS,
    )
    const workersSeen = this.workersSeen
    const now = this.now
    new Gauge({
      name: 'offload_workers',
      help: 'Distinct worker ids that started a job in the last minute (seen in the event log): busy workers, not idle ones.',
      registers,
      collect() {
        workersSeen.forgetBefore(now() - WORKER_WINDOW_MS)
        this.set(workersSeen.size)
      },
    })
    this.unsubscribe = feed.subscribe((events) => this.observe(events))
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The metrics as Prometheus text. Reads the queues from the store; concurrent scrapes share one read. */
  scrape(): Promise<string> {
    this.scraping ??= this.collect().finally(() => (this.scraping = undefined))
    return this.scraping
  }

  /** Stops listening to events. */
  close(): void {
    this.unsubscribe()
  }

  private async collect(): Promise<string> {
    const [queues, now, breakers] = await Promise.all([this.offload.listQueues(), this.offload.store.now(), this.offload.listBreakers()])
    this.breakers.set(breakers)
    // Reset first: a queue that no longer exists must drop out rather than keep its last values.
    this.jobs.reset()
    this.paused.reset()
    this.oldest.reset()
    for (const info of queues) {
      for (const state of JOB_STATES) this.jobs.set({ queue: info.queue, state }, info.counts[state])
      this.paused.set({ queue: info.queue }, info.paused ? 1 : 0)
      const oldest = info.oldestQueuedAt === undefined ? 0 : Math.max(0, now - info.oldestQueuedAt.getTime()) / 1000
      this.oldest.set({ queue: info.queue }, oldest)
    }
    const own = await this.registry.metrics()
    return this.processMetrics === undefined ? own : `${own}\n${await this.processMetrics.metrics()}`
  }

  private observe(events: readonly JobEvent[]): void {
    for (const event of events) {
      const labels = { queue: event.queue, task: event.task }
      const at = event.at.getTime()
      switch (event.type) {
        case 'enqueued':
          this.enqueued.inc(labels)
          if (event.state === 'queued') this.readyAt.set(event.jobId, at)
          break
        case 'promoted':
        case 'retried':
        case 'released':
          this.readyAt.set(event.jobId, at)
          break
        case 'started': {
          const ready = this.readyAt.take(event.jobId)
          if (ready !== undefined) this.waitTime.observe(labels, Math.max(0, at - ready) / 1000)
          this.startedAt.set(event.jobId, { at, attempt: event.attempt })
          const workerId = event.data?.workerId
          if (typeof workerId === 'string') this.workersSeen.set(workerId, this.now())
          break
        }
        case 'completed':
        case 'failed': {
          ;(event.type === 'completed' ? this.completed : this.failed).inc(labels)
          const started = this.startedAt.take(event.jobId)
          if (started !== undefined && started.attempt === event.attempt) this.runTime.observe(labels, Math.max(0, at - started.at) / 1000)
          break
        }
        case 'rescued':
          this.startedAt.take(event.jobId)
          if (event.state === 'failed') this.failed.inc(labels)
          else this.readyAt.set(event.jobId, at)
          break
        case 'retrying':
        case 'snoozed':
          this.startedAt.take(event.jobId)
          break
        case 'cancelled':
          this.startedAt.take(event.jobId)
          this.readyAt.take(event.jobId)
          break
        default:
          break
      }
    }
  }
}

let shared: Registry | undefined

/**
 * The process's own metrics, made once per process: prom-client's collectors keep an event-loop
 * monitor and a GC observer for good, so one set serves every server. Prefixed `offload_`, so
 * `process_cpu_seconds_total` becomes `offload_process_cpu_seconds_total` and the Node.js ones
 * `offload_nodejs_*` — the names dashboards know, in our namespace.
 */
function processRegistry(): Registry {
  if (shared === undefined) {
    shared = new Registry()
    collectDefaultMetrics({ register: shared, prefix: 'offload_' })
  }
  return shared
}

/** A map that forgets its least recently set entries past `limit`. */
class BoundedMap<V> {
  private readonly map = new Map<string, V>()

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.map.size
  }

  set(key: string, value: V): void {
    // Deleted first so the key moves to the end: Map iterates in insertion order, oldest first.
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value!)
  }

  take(key: string): V | undefined {
    const value = this.map.get(key)
    this.map.delete(key)
    return value
  }

  /** For numeric values set in time order: drops those older than `cutoff`. */
  forgetBefore(this: BoundedMap<number>, cutoff: number): void {
    for (const [key, value] of this.map) {
      if (value >= cutoff) return
      this.map.delete(key)
    }
  }
}
