import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withTimeout } from './clock.js'
import { sourceMapsFileFor } from './source-maps.js'
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

// Each thread writes its own profile (tsx's loader runs in a second one): let them land in a folder
// of their own, then keep the main thread's.
function profilerArgs(profile: { dir: string; name: string }): string[] {
  return ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', threadsFolder(profile)]
}

function threadsFolder(profile: { dir: string; name: string }): string {
  return join(profile.dir, `${profile.name}.threads`)
}

/**
 * After a profiled process exited: moves its main thread's profile (thread id 0 in Node's
 * `CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile` names) to `dir/name`; returns its path.
 */
function keepMainThreadProfile(profile: { dir: string; name: string }): string | undefined {
  const folder = threadsFolder(profile)
  const target = join(profile.dir, profile.name)
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
      nodeArgs.push(...profilerArgs(options.cpuProfile))
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

  /** After the child exited: where its main thread's profile now is. */
  collectProfile(): string | undefined {
    return this.cpuProfile === undefined ? undefined : keepMainThreadProfile(this.cpuProfile)
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL')
  }
}

/**
 * A server process the bench started — `node --import tsx <args>` — that prints
 * `{"type":"listening","url":…}` as its first line on stdout and serves until it is sent SIGTERM.
 * No IPC: it is stopped the way its users stop it, by a signal to its pid.
 */
export class ServerChild {
  readonly process: ChildProcess
  private output = ''
  private readonly exited: Promise<void>
  private readonly listening: Promise<string>

  private constructor(
    args: readonly string[],
    environment: Record<string, string | undefined>,
    private readonly cpuProfile: SpawnOptions['cpuProfile'],
  ) {
    const nodeArgs: string[] = []
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' }
    for (const [name, value] of Object.entries(environment)) {
      if (value === undefined) delete env[name]
      else env[name] = value
    }
    if (cpuProfile !== undefined) {
      // The server is not the bench's script: a preloaded hook writes its source maps as it exits.
      nodeArgs.push(...profilerArgs(cpuProfile), '--import', './bench/workers/source-maps-at-exit.ts')
      env.BENCH_SOURCE_MAPS = sourceMapsFileFor(join(cpuProfile.dir, cpuProfile.name))
    }
    this.process = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env })
    live.add(this.process)
    this.exited = new Promise((resolve) => {
      this.process.once('exit', () => {
        live.delete(this.process)
        resolve()
      })
    })
    let stdout: string | undefined = ''
    this.listening = new Promise((resolve, reject) => {
      // Read on after the first line, whatever it prints: a full pipe would block the server.
      this.process.stdout!.on('data', (chunk: Buffer) => {
        this.keep(chunk)
        if (stdout === undefined) return
        stdout += chunk.toString()
        const newline = stdout.indexOf('\n')
        if (newline < 0) return
        const line = stdout.slice(0, newline)
        stdout = undefined
        try {
          const first = JSON.parse(line) as { type?: unknown; url?: unknown }
          if (first.type === 'listening' && typeof first.url === 'string') return resolve(first.url)
        } catch {
          // not JSON either: said below
        }
        reject(new Error(`the server's first line is not {"type":"listening","url":…}: ${line.slice(0, 300)}`))
      })
      this.process.stderr!.on('data', (chunk: Buffer) => this.keep(chunk))
      void this.exited.then(() => reject(new Error(this.failure())))
    })
  }

  /**
   * Starts the server (`node --import tsx <args>`, the bench's environment with `env` set, or
   * removed where `undefined`) and waits (up to `timeoutMs`) for its `listening` line; resolves
   * with its URL. With `cpuProfile` it runs under `node --cpu-prof` (see `SpawnOptions`); the
   * caller writes the `.window.json`, since only it knows the span worth summarising.
   */
  static async start(command: { args: string[]; env: Record<string, string | undefined> }, timeoutMs: number, options: SpawnOptions = {}): Promise<{ server: ServerChild; url: string }> {
    const server = new ServerChild(command.args, command.env, options.cpuProfile)
    try {
      return { server, url: await withTimeout(server.listening, timeoutMs, 'the server to listen') }
    } catch (error) {
      server.kill()
      throw error
    }
  }

  get pid(): number {
    return this.process.pid!
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null
  }

  /**
   * Why it is not running: the line of its output that names an error (the run's log shows only
   * an error's first line), then the tail of all it printed.
   */
  failure(): string {
    const lines = this.output.trim().split('\n')
    const named = lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.find((line) => /error/i.test(line)) ?? lines.at(-1) ?? ''
    return `the server exited (code ${this.process.exitCode}, signal ${this.process.signalCode}): ${named.trim()}\n${this.output.trim()}`
  }

  /** SIGTERM, as a user or an orchestrator stops it; SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return
    this.process.kill('SIGTERM')
    try {
      await withTimeout(this.exited, graceMs, 'server shutdown')
    } catch {
      this.kill()
      await this.exited
    }
  }

  /** After `stop`: where its main thread's profile now is (a server that was killed wrote none). */
  collectProfile(): string | undefined {
    return this.cpuProfile === undefined ? undefined : keepMainThreadProfile(this.cpuProfile)
  }

  private kill(): void {
    if (this.running) this.process.kill('SIGKILL')
  }

  private keep(chunk: Buffer): void {
    // Only the tail matters, for the error message if it dies.
    this.output = (this.output + chunk.toString()).slice(-4000)
  }
}
