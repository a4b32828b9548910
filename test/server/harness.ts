import { afterEach } from 'vitest'
import { createOffload, defineTask, PermanentError, startServer, type Offload, type OffloadConfig, type RunningServer, type ServerOptions } from '../../src/index.js'
import { tempDb } from '../support/temp.js'

const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  // Servers first (they use the instances), then the instances.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Jobs of `gate` run until the test opens their gate, by the payload's `gate` name. */
const gates = new Map<string, { open: (value: unknown) => void; opened: Promise<unknown> }>()

function gate(name: string): { open: (value: unknown) => void; opened: Promise<unknown> } {
  let entry = gates.get(name)
  if (entry === undefined) {
    let open: (value: unknown) => void = () => {}
    const opened = new Promise<unknown>((resolve) => (open = resolve))
    entry = { open, opened }
    gates.set(name, entry)
  }
  return entry
}

/** Lets every `gate` job waiting on `name` finish with `result`. */
export function openGate(name: string, result: unknown = null): void {
  gate(name).open(result)
}

export const TASKS = [
  defineTask('greet', { queue: 'greetings', run: (input: { name: string }) => ({ greeting: `hello, ${input.name}` }) }),
  defineTask('fail', {
    attempts: 1,
    run: (input: { reason?: string }) => {
      throw new PermanentError(input?.reason ?? 'failed on purpose')
    },
  }),
  defineTask('gate', {
    queue: 'gates',
    run: async (input: { gate: string }, ctx) => {
      await ctx.progress(50)
      return Promise.race([
        gate(input.gate).opened,
        new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })),
      ])
    },
  }),
]

export interface Answer {
  status: number
  headers: Headers
  /** Parsed JSON, or the text when it is not JSON. */
  body: any
}

export interface Served {
  offload: Offload
  server: RunningServer
  url: string
  /** One request to the listening server; `body` as an object is sent as JSON. */
  request(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string>; token?: string; signal?: AbortSignal }): Promise<Answer>
}

/**
 * A listening server on 127.0.0.1 (port 0) over a fresh SQLite file (or `store`), with the test
 * tasks; closed after the test, server first.
 */
export async function serve(options: { store?: string; config?: OffloadConfig; server?: ServerOptions } = {}): Promise<Served> {
  const offload = createOffload({ store: options.store ?? `sqlite:${tempDb()}`, tasks: TASKS, logger: false, ...options.config })
  cleanups.push(() => offload.close())
  const server = await startServer(offload, { port: 0, logger: false, ...options.server })
  cleanups.push(() => server.close())
  return { offload, server, url: server.url, request: (method, path, requestOptions) => call(server.url, method, path, requestOptions) }
}

/** Registers a cleanup to run after the test, before the server and instance close (a worker). */
export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup)
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; token?: string; signal?: AbortSignal } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  let body: string | Uint8Array | undefined
  if (typeof options.body === 'string' || options.body instanceof Uint8Array) body = options.body
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  const response = await fetch(base + path, { method, headers, body, ...(options.signal ? { signal: options.signal } : {}) })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    // Not JSON: the text is the body.
  }
  return { status: response.status, headers: response.headers, body: parsed }
}

/** Starts a worker for the test tasks in this process, stopped after the test. */
export async function work(offload: Offload): Promise<void> {
  const worker = await offload.work({ handleSignals: false, concurrency: 5, pollInterval: '50ms' })
  onCleanup(() => worker.stop({ graceMs: 0 }))
}
