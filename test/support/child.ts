import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const running = new Set<Agent>()

afterEach(async () => {
  // A failed test may leave children behind; end them (only ours, by PID) so the next test and the
  // leak check start clean.
  await Promise.all([...running].map((agent) => agent.kill('SIGKILL')))
})

/** One JSON message a child printed on its stdout. */
export type Message = Record<string, unknown> & { type: string }

/**
 * A real child process running a TypeScript fixture under tsx, speaking JSON lines on stdout.
 * Tests wait for messages, never for time.
 */
export class Agent {
  readonly messages: Message[] = []
  readonly stderr: string[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private waiters: { match: (message: Message) => boolean; resolve: (message: Message) => void }[] = []
  private readonly subscribers = new Set<(message: Message) => void>()
  private buffered = ''

  constructor(readonly process: ChildProcess) {
    running.add(this)
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.onData(chunk))
    process.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk))
    // 'close', not 'exit': it comes after the child's stdout was read to the end, so every line it
    // printed is in `messages` by the time `exited` resolves.
    this.exited = once(process, 'close').then(([code, signal]) => {
      running.delete(this)
      return { code: code as number | null, signal: signal as NodeJS.Signals | null }
    })
  }

  get pid(): number {
    return this.process.pid!
  }

  /** Resolves with the first message (already received or future) that matches. */
  waitFor(match: (message: Message) => boolean, what: string, timeoutMs = 30_000): Promise<Message> {
    const seen = this.messages.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done)
        reject(new Error(`child ${this.pid} never sent ${what}; stderr: ${this.stderr.join('').slice(-2000)}`))
      }, timeoutMs)
      const done = (message: Message): void => {
        clearTimeout(timer)
        resolve(message)
      }
      this.waiters.push({ match, resolve: done })
      void this.exited.then(() => {
        if (!this.waiters.some((waiter) => waiter.resolve === done)) return
        clearTimeout(timer)
        reject(new Error(`child ${this.pid} exited before sending ${what}; stderr: ${this.stderr.join('').slice(-2000)}`))
      })
    })
  }

  waitForType(type: string, timeoutMs?: number): Promise<Message> {
    return this.waitFor((message) => message.type === type, `a '${type}' message`, timeoutMs)
  }

  /** Calls `listener` with every message received from now on; returns the unsubscribe function. */
  subscribe(listener: (message: Message) => void): () => void {
    this.subscribers.add(listener)
    return () => void this.subscribers.delete(listener)
  }

  send(line: string): void {
    this.process.stdin!.write(line + '\n')
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal)
    await this.exited
  }

  private onData(chunk: string): void {
    this.buffered += chunk
    let newline: number
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline)
      this.buffered = this.buffered.slice(newline + 1)
      if (line.trim() === '') continue
      let message: Message
      try {
        message = JSON.parse(line) as Message
      } catch {
        message = { type: 'text', text: line }
      }
      this.messages.push(message)
      for (const subscriber of this.subscribers) subscriber(message)
      for (const waiter of this.waiters.filter((candidate) => candidate.match(message))) {
        this.waiters = this.waiters.filter((candidate) => candidate !== waiter)
        waiter.resolve(message)
      }
    }
  }
}

/** Starts `fixture` (a path relative to the repository) with tsx and JSON `config` as its argument. */
export function startAgent(fixture: string, config: Record<string, unknown>): Agent {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  return new Agent(child)
}
