import { writeFileSync } from 'node:fs'
import { monotonicMicros, wallNow } from '../lib/clock.js'
import { writeSourceMaps } from '../lib/source-maps.js'
import type { BenchPayload } from './names.js'
import type { DrainReport, FromChild, LoadReport, ToChild, WorkerConfig } from './protocol.js'

/** What a system's worker process implements; `childMain` does the messaging around it. */
export interface WorkerHooks {
  /** Starts the worker: called on the parent's `start`, the moment the timing begins. */
  start(): Promise<void>
  /** Stops the worker and closes connections. */
  stop(): Promise<void>
  /** For a drain cut short by its time limit: what was done so far. */
  progress?(): DrainReport
  /** Sent to the parent when it asks to stop, before `stop` runs. */
  finish?(): Promise<FromChild | undefined>
  /** Several drain processes: the parent saw `jobs` handled; confirm them completed in the store. */
  confirm?(jobs: number): void
}

export type Send = (message: FromChild) => void

/**
 * Runs a worker process: reads its config, lets `setup` connect (untimed), reports `ready`, and
 * then obeys the parent. A child whose parent goes away exits at once, so a crashed or killed
 * bench never leaves workers behind.
 */
export function childMain(setup: (config: WorkerConfig, send: Send) => Promise<WorkerHooks>): void {
  const send: Send = (message) => {
    if (process.connected) process.send!(message)
  }
  // A large message (a mixed worker's latency samples) is still being written when the channel is
  // closed right after: the last messages wait for their write before the child disconnects.
  const flushed = (message: FromChild): Promise<void> =>
    new Promise((resolve) => {
      if (process.connected) process.send!(message, undefined, {}, () => resolve())
      else resolve()
    })
  const fail = (error: unknown): void => {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    setTimeout(() => process.exit(1), 50).unref()
  }
  process.on('disconnect', () => process.exit(2))
  process.on('uncaughtException', fail)
  process.on('unhandledRejection', fail)

  const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig
  let hooks: WorkerHooks | undefined
  let stopping = false
  const window = { fromUs: 0, toUs: 0 }
  process.on('message', (raw) => {
    const message = raw as ToChild
    switch (message.type) {
      case 'ping':
        send({ type: 'pong', sentAt: message.sentAt, at: wallNow() })
        break
      case 'start':
        window.fromUs = monotonicMicros()
        hooks?.start().catch(fail)
        break
      case 'confirm':
        hooks?.confirm?.(message.jobs)
        break
      case 'stop': {
        if (stopping) return
        stopping = true
        window.toUs = monotonicMicros()
        // Under --cpu-prof: the span worth summarising (V8's profile clock is the monotonic one).
        const windowFile = process.env.BENCH_PROFILE_WINDOW
        if (windowFile !== undefined) {
          writeFileSync(windowFile, JSON.stringify(window))
          writeSourceMaps(windowFile.replace(/\.window\.json$/, '.sourcemaps.json'))
        }
        void (async () => {
          const progress = hooks?.progress?.()
          if (progress !== undefined && progress.partial) send({ type: 'done', report: progress })
          const last = await hooks?.finish?.()
          if (last !== undefined) await flushed(last)
          await hooks?.stop()
          await flushed({ type: 'stopped' })
          // Leave the rest to exit: the parent waits for it, and a lingering handle must not hang the run.
          setTimeout(() => process.exit(0), 20).unref()
          process.disconnect?.()
        })().catch(fail)
        break
      }
    }
  })
  setup(config, send).then((ready) => {
    hooks = ready
    send({ type: 'ready', at: wallNow() })
  }, fail)
}

/** How a drain worker learns that the store shows its jobs completed. */
export interface CompletionProbe {
  /** Cheap check, polled after the last handler ran: does the store show everything completed? */
  done(lastJobId: string): Promise<boolean>
  /** Jobs completed in the store: run once after `done`, outside the timing, to confirm it. */
  count(): Promise<number>
}

/**
 * Bookkeeping every drain worker shares: counts handler runs, tells the parent how many (several
 * processes share one queue, so only the parent knows when all ran), and once every job ran asks
 * the system's store until it shows them all completed — so the figure is jobs durably finished,
 * not merely handed to a handler.
 */
export class DrainTracker {
  private handled = 0
  private startedAt = 0
  private cpuAtStart: NodeJS.CpuUsage | undefined
  private firstHandlerAt = 0
  private lastHandlerAt = 0
  private completed = 0
  private finished = false
  private confirming = false
  private tick: NodeJS.Timeout | undefined

  constructor(
    private readonly target: number,
    private readonly send: Send,
    private readonly probe: CompletionProbe,
  ) {}

  begin(): void {
    this.startedAt = wallNow()
    this.cpuAtStart = process.cpuUsage()
  }

  /** Call at the start of each handler. */
  handle(jobId: string): void {
    const now = wallNow()
    if (this.handled === 0) this.firstHandlerAt = now
    this.handled++
    this.lastHandlerAt = now
    // At most one count message per 2 ms: the parent learns of the last handler that late at worst.
    this.tick ??= setTimeout(() => {
      this.tick = undefined
      this.send({ type: 'handled', count: this.handled })
    }, 2)
    if (this.handled === this.target) void this.awaitCompletion(this.target, jobId)
  }

  /** The parent counted `jobs` handled across processes: confirm them in the store. */
  confirm(jobs: number): void {
    void this.awaitCompletion(jobs, undefined)
  }

  progress(): DrainReport {
    return {
      handled: this.handled,
      completed: this.completed,
      startedAt: this.startedAt,
      firstHandlerAt: this.firstHandlerAt,
      lastHandlerAt: this.lastHandlerAt,
      completedAt: undefined,
      partial: !this.finished,
      cpuMs: this.cpuMs(),
    }
  }

  private cpuMs(): number {
    const used = process.cpuUsage(this.cpuAtStart)
    return (used.user + used.system) / 1000
  }

  private async awaitCompletion(jobs: number, lastJobId: string | undefined): Promise<void> {
    if (this.confirming) return
    this.confirming = true
    // Poll briskly: the wait after the last handler is part of the measured time.
    if (lastJobId !== undefined) while (!(await this.probe.done(lastJobId))) await pause()
    else while ((this.completed = await this.probe.count()) < jobs) await pause()
    let completedAt = wallNow()
    let cpuMs = this.cpuMs()
    // The parent reads the CPU counters now: the count below is a check, not part of the drain.
    this.send({ type: 'completed', at: completedAt })
    this.completed = await this.probe.count()
    if (this.completed < jobs) {
      // The cheap check was too hopeful (outcomes written out of order): count until all are in.
      while ((this.completed = await this.probe.count()) < jobs) await pause()
      completedAt = wallNow()
      cpuMs = this.cpuMs()
      this.send({ type: 'completed', at: completedAt })
    }
    this.finished = true
    this.send({ type: 'done', report: { ...this.progress(), completedAt, cpuMs, partial: false } })
  }
}

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1))
}

/** One system's queue as a worker process sees it: the calls `systemChild` needs. */
export interface ChildQueue {
  /** Starts the system's worker with its recommended set-up; `handle` runs first in every handler. */
  work(handle: (payload: BenchPayload, jobId: string) => void): Promise<void>
  /** Enqueues one job, resolving when the system acknowledged it. */
  enqueue(payload: BenchPayload): Promise<unknown>
  /** Jobs the store shows completed (for a drain). */
  completed(): Promise<number>
  /** A cheaper check than `completed` where the system has one: is this job completed? */
  isCompleted?(jobId: string): Promise<boolean>
  close(): Promise<void>
}

/** How many latency samples a `mixed` worker keeps: a uniform sample of every job it ran. */
const RESERVOIR = 20_000

/**
 * A worker process for any system: `connect` opens the system's queue (untimed); the modes of
 * `WorkerConfig` are the same code for every system.
 */
export function systemChild(connect: (config: WorkerConfig) => Promise<ChildQueue>): void {
  childMain(async (config, send) => {
    const queue = await connect(config)
    const tracker = new DrainTracker(config.jobs, send, {
      done: async (lastJobId) => (queue.isCompleted === undefined ? (await queue.completed()) >= config.jobs : queue.isCompleted(lastJobId)),
      count: () => queue.completed(),
    })
    const load: LoadReport = { count: 0, latencies: [] }
    const record = (latency: number): void => {
      load.count++
      // Reservoir sampling: every job has the same chance to be among the kept samples.
      if (load.latencies.length < RESERVOIR) load.latencies.push(latency)
      else {
        const slot = Math.floor(Math.random() * load.count)
        if (slot < RESERVOIR) load.latencies[slot] = latency
      }
    }
    let producing = false
    const loops: Promise<void>[] = []
    const produce = async (): Promise<void> => {
      while (producing) {
        await queue.enqueue({ sentAt: wallNow() })
        if (producing) load.count++
      }
    }
    const handle = ((): ((payload: BenchPayload, jobId: string) => void) => {
      switch (config.mode) {
        case 'drain':
          return (_payload, jobId) => tracker.handle(jobId)
        case 'wakeup':
          return (payload) => send({ type: 'started', seq: payload.seq!, sentAt: payload.sentAt!, at: wallNow() })
        case 'mixed':
          return (payload) => record(wallNow() - payload.sentAt!)
        case 'produce':
          return () => {}
        case 'http-load':
          throw new Error("'http-load' is the mode of the http step's load generator (workers/http-load.ts), not of a system's worker")
      }
    })()
    return {
      start: async () => {
        if (config.mode === 'produce') {
          producing = true
          for (let i = 0; i < config.concurrency; i++) loops.push(produce())
          return
        }
        tracker.begin()
        await queue.work(handle)
      },
      confirm: (jobs) => tracker.confirm(jobs),
      ...(config.mode === 'drain' ? { progress: () => tracker.progress() } : {}),
      finish: async () => {
        if (config.mode === 'produce') {
          producing = false
          await Promise.all(loops)
        }
        return config.mode === 'mixed' || config.mode === 'produce' ? { type: 'load', report: load } : undefined
      },
      stop: () => queue.close(),
    }
  })
}
