import { writeFileSync } from 'node:fs'
import { wallNow } from '../lib/clock.js'
import { writeSourceMaps } from '../lib/source-maps.js'
import type { DrainReport, FromChild, ToChild, WorkerConfig } from './protocol.js'

/** What a system's worker process implements; `childMain` does the messaging around it. */
export interface WorkerHooks {
  /** Starts the worker: called on the parent's `start`, the moment the timing begins. */
  start(): Promise<void>
  /** Stops the worker and closes connections. */
  stop(): Promise<void>
  /** For a drain cut short by its time limit: what was done so far. */
  progress?(): DrainReport
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
          await hooks?.stop()
          send({ type: 'stopped' })
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

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** How a drain worker learns that the store shows its jobs completed. */
export interface CompletionProbe {
  /** Cheap check, polled after the last handler ran: does the store show everything completed? */
  done(lastJobId: string): Promise<boolean>
  /** Jobs completed in the store: run once after `done`, outside the timing, to confirm it. */
  count(): Promise<number>
}

/**
 * Bookkeeping every drain worker shares: counts handler runs, notes the first and last, and once
 * every job ran asks the system's store until it shows them all completed — so the figure is jobs
 * durably finished, not merely handed to a handler.
 */
export class DrainTracker {
  private handled = 0
  private startedAt = 0
  private cpuAtStart: NodeJS.CpuUsage | undefined
  private firstHandlerAt = 0
  private lastHandlerAt = 0
  private completed = 0
  private finished = false

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
    if (this.handled === this.target) void this.awaitCompletion(jobId)
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

  private async awaitCompletion(lastJobId: string): Promise<void> {
    // Poll briskly: the wait after the last handler is part of the measured time.
    while (!(await this.probe.done(lastJobId))) await pause()
    let completedAt = wallNow()
    let cpuMs = this.cpuMs()
    // The parent reads the servers' CPU now: the count below is a check, not part of the drain.
    this.send({ type: 'completed' })
    this.completed = await this.probe.count()
    if (this.completed < this.target) {
      // The cheap check was too hopeful (outcomes written out of order): count until all are in.
      while ((this.completed = await this.probe.count()) < this.target) await pause()
      completedAt = wallNow()
      cpuMs = this.cpuMs()
      this.send({ type: 'completed' })
    }
    this.finished = true
    this.send({ type: 'done', report: { ...this.progress(), completedAt, cpuMs, partial: false } })
  }
}

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1))
}
