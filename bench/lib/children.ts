import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withTimeout } from './clock.js'
import type { FromChild, ToChild, WorkerConfig } from '../workers/protocol.js'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Every child still running, so an error, a signal or the end of the run can kill them all. */
const live = new Set<ChildProcess>()

/** Kills every worker process this bench started (by its own handle, so by its pid). */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  live.clear()
}

// Last resort: whatever way the bench ends, no worker outlives it.
process.on('exit', killAllChildren)

export interface SpawnOptions {
  /**
   * Run the child under `node --cpu-prof`; its main thread's profile ends up as `dir/name`, with
   * `dir/name.window.json` holding the span between the parent's `start` and `stop`, so a summary
   * can leave out module loading and shutdown.
   */
  cpuProfile?: { dir: string; name: string }
}

interface Waiter {
  match: (message: FromChild) => boolean
  resolve: (message: FromChild) => void
  reject: (error: Error) => void
}

/**
 * A worker process the bench started: `node --import tsx bench/workers/<system>.ts <config>` with
 * an IPC channel. Messages can be awaited by predicate or observed as they come.
 */
export class WorkerChild {
  readonly process: ChildProcess
  private readonly waiters = new Set<Waiter>()
  private readonly observers = new Set<(message: FromChild) => void>()
  private output = ''
  private exited: Promise<void>
  private readonly cpuProfile: SpawnOptions['cpuProfile']

  constructor(script: string, config: WorkerConfig, options: SpawnOptions = {}) {
    const nodeArgs: string[] = []
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' }
    this.cpuProfile = options.cpuProfile
    if (options.cpuProfile !== undefined) {
      // Each thread writes its own profile (tsx's loader runs in a second one): let them land in a
      // folder of their own, then keep the main thread's.
      nodeArgs.push('--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', this.profileFolder())
      env.BENCH_PROFILE_WINDOW = join(options.cpuProfile.dir, options.cpuProfile.name.replace(/\.cpuprofile$/, '') + '.window.json')
    }
    this.process = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env,
    })
    live.add(this.process)
    const keep = (chunk: Buffer): void => {
      // Only the tail matters, for the error message if the child dies.
      this.output = (this.output + chunk.toString()).slice(-4000)
    }
    this.process.stdout!.on('data', keep)
    this.process.stderr!.on('data', keep)
    this.process.on('message', (raw) => {
      const message = raw as FromChild
      for (const observe of this.observers) observe(message)
      for (const waiter of this.waiters) {
        if (message.type === 'error') {
          waiter.reject(new Error(`worker process failed: ${message.message}`))
          this.waiters.delete(waiter)
        } else if (waiter.match(message)) {
          waiter.resolve(message)
          this.waiters.delete(waiter)
        }
      }
    })
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        live.delete(this.process)
        const error = new Error(`worker process exited (code ${code}, signal ${signal}) before answering:\n${this.output.trim()}`)
        for (const waiter of this.waiters) waiter.reject(error)
        this.waiters.clear()
        resolve()
      })
    })
  }

  send(message: ToChild): void {
    // A child that is disconnecting (it stops itself after a cut drain's report) can still look
    // connected: the write then fails with EPIPE. With a callback that is reported there rather
    // than thrown as an 'error' event that would end the bench; the child's exit speaks for it.
    if (this.process.connected) this.process.send(message, () => {})
  }

  /** Calls `observe` with every message until the returned function is called. */
  observe(observe: (message: FromChild) => void): () => void {
    this.observers.add(observe)
    return () => this.observers.delete(observe)
  }

  next<T extends FromChild['type']>(type: T, timeoutMs: number, match?: (message: Extract<FromChild, { type: T }>) => boolean): Promise<Extract<FromChild, { type: T }>> {
    const waiting = new Promise<FromChild>((resolve, reject) => {
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        reject(new Error(`worker process already exited:\n${this.output.trim()}`))
        return
      }
      this.waiters.add({
        match: (message) => message.type === type && (match === undefined || match(message as Extract<FromChild, { type: T }>)),
        resolve,
        reject,
      })
    })
    return withTimeout(waiting, timeoutMs, `waiting for '${type}' from the worker process`) as Promise<Extract<FromChild, { type: T }>>
  }

  /**
   * Estimates how far this child's wall clock is from ours: half a round trip of uncertainty,
   * tens of microseconds over IPC. Reported beside cross-process latencies.
   */
  async clockOffset(rounds = 20): Promise<{ offsetMs: number; uncertaintyMs: number }> {
    const { wallNow } = await import('./clock.js')
    let best = { offsetMs: NaN, uncertaintyMs: Infinity }
    for (let i = 0; i < rounds; i++) {
      const sentAt = wallNow()
      const pongWait = this.next('pong', 5000, (message) => message.sentAt === sentAt)
      this.send({ type: 'ping', sentAt })
      const pong = await pongWait
      const back = wallNow()
      const half = (back - sentAt) / 2
      // The tightest round trip bounds the offset best.
      if (half < best.uncertaintyMs) best = { offsetMs: pong.at - (sentAt + half), uncertaintyMs: half }
    }
    return best
  }

  /** Asks the child to stop and waits for it to exit; kills it if it does not within `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.send({ type: 'stop' })
    try {
      await withTimeout(this.exited, timeoutMs, 'worker process shutdown')
    } catch {
      this.kill()
      await this.exited
    }
  }

  private profileFolder(): string {
    return join(this.cpuProfile!.dir, `${this.cpuProfile!.name}.threads`)
  }

  /**
   * After the child exited: moves its main thread's profile (thread id 0 in Node's
   * `CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile` names) to `dir/name`; returns its path.
   */
  collectProfile(): string | undefined {
    if (this.cpuProfile === undefined) return undefined
    const folder = this.profileFolder()
    const target = join(this.cpuProfile.dir, this.cpuProfile.name)
    try {
      const main = readdirSync(folder).find((file) => file.split('.')[4] === '0')
      if (main === undefined) return undefined
      renameSync(join(folder, main), target)
      return target
    } catch {
      return undefined
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL')
  }
}
