import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach, expect } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const live = new Set<CliProcess>()

afterEach(async () => {
  // A failed test may leave a CLI running: end ours, by PID, so the leak check and the next test
  // start clean.
  await Promise.all([...live].map((cli) => cli.kill('SIGKILL')))
})

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  /** Added to a clean environment (no OFFLOAD_* from the caller's shell, no colours). */
  env?: Record<string, string>
  /** Written to stdin, which is then closed. */
  input?: string
}

/**
 * The real `offload` CLI in a child process: `node --import tsx src/cli/main.ts …`, run from the
 * repository root. Tests wait for what it prints or for its exit, never for time.
 */
export class CliProcess {
  stdout = ''
  stderr = ''
  readonly closed: Promise<CliResult>
  private readonly child: ChildProcess
  private waiters: { ready: () => boolean; resolve: () => void }[] = []

  constructor(args: readonly string[], options: CliOptions = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', NO_COLOR: '1' }
    for (const name of ['OFFLOAD_STORE', 'OFFLOAD_TASKS', 'OFFLOAD_DEBUG']) delete env[name]
    Object.assign(env, options.env)
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
    live.add(this)
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      this.check()
    })
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
      this.check()
    })
    this.child.stdin!.on('error', () => {}) // a CLI that exits without reading stdin closes the pipe
    this.child.stdin!.end(options.input ?? '')
    // 'close', not 'exit': the pipes are closed too, so nothing of the child outlives the test.
    this.closed = once(this.child, 'close').then(([code, signal]) => {
      live.delete(this)
      this.check()
      return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout: this.stdout, stderr: this.stderr }
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Resolves once stdout matches `pattern`; rejects if the process exits first or `timeoutMs` passes. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => pattern.test(this.stdout), `stdout to match ${pattern}`, timeoutMs)
  }

  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => pattern.test(this.stderr), `stderr to match ${pattern}`, timeoutMs)
  }

  /** Resolves once `ready()` holds (it is asked whenever output arrives); rejects on exit or timeout. */
  async waitFor(ready: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (ready()) return
    let timer: NodeJS.Timeout | undefined
    let waiter: { ready: () => boolean; resolve: () => void } | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        const exited = (): boolean => this.child.exitCode !== null || this.child.signalCode !== null
        waiter = {
          ready: () => ready() || exited(),
          resolve: () => (ready() ? resolve() : reject(new Error(`the CLI exited before ${what}\n${this.transcript()}`))),
        }
        this.waiters.push(waiter)
        timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${what}\n${this.transcript()}`)), timeoutMs)
      })
    } finally {
      clearTimeout(timer)
      this.waiters = this.waiters.filter((candidate) => candidate !== waiter)
    }
  }

  /** Waits for the process to end by itself; kills it (by PID) and fails after `timeoutMs`. */
  async finished(timeoutMs = 30_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            this.child.kill('SIGKILL')
            reject(new Error(`the CLI did not exit within ${timeoutMs} ms\n${this.transcript()}`))
          }, timeoutMs)
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  async kill(signal: NodeJS.Signals): Promise<CliResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.closed
  }

  private check(): void {
    for (const waiter of this.waiters.filter((candidate) => candidate.ready())) waiter.resolve()
  }

  private transcript(): string {
    return `stdout:\n${this.stdout.slice(-3000)}\nstderr:\n${this.stderr.slice(-3000)}`
  }
}

export function startCli(args: readonly string[], options?: CliOptions): CliProcess {
  return new CliProcess(args, options)
}

/** Runs one CLI command to its end. */
export function runCli(args: readonly string[], options?: CliOptions): Promise<CliResult> {
  return startCli(args, options).finished()
}

/** Runs a command with `--json` that must succeed (exit 0, nothing on stderr) and returns its one JSON document. */
export async function runJson(args: string[], input?: string): Promise<any> {
  const result = await runCli([...args, '--json'], input === undefined ? {} : { input })
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' })
  return JSON.parse(result.stdout)
}

/** A stream's text as lines, without the empty one after the final newline. */
export function lines(text: string): string[] {
  const all = text.split('\n')
  if (all[all.length - 1] === '') all.pop()
  return all
}
