import { request, type IncomingHttpHeaders } from 'node:http'
import { afterEach } from 'vitest'
import { Offload, startServer, type ApiToken, type Logger, type Store } from '../../src/index.js'
import type { EventStreamOptions } from '../../src/server/sse.js'
import type { MetricsOptions } from '../../src/telemetry/metrics.js'

const started: TestServer[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  // Servers first: they read through the instances and stores, closed in the order given.
  for (const server of started.splice(0)) await server.close()
  for (const close of closers.splice(0)) await close()
})

/** Closes an instance (without grace: gate jobs may never finish) or a store after the test, once the servers are closed. */
export function closeAfterTest<T extends Offload | Store>(closeable: T): T {
  closers.push(() => (closeable instanceof Offload ? closeable.close({ grace: 0 }) : closeable.close()))
  return closeable
}

export interface TestServer {
  url: string
  close(): Promise<void>
}

export interface TestServerOptions {
  /** API tokens: the server then wants a token with the route's scope. */
  tokens?: ApiToken[]
  events?: EventStreamOptions
  metrics?: MetricsOptions
  /** Collects what the server logs (debug and up). */
  logs?: LogLines
}

/** What a server logs, to wait on a line the way a test waits on any other signal. */
export class LogLines implements Logger {
  readonly lines: string[] = []
  private readonly waiters = new Set<() => void>()

  readonly debug = (message: string, context?: Record<string, unknown>): void => this.write('debug', message, context)
  readonly info = (message: string, context?: Record<string, unknown>): void => this.write('info', message, context)
  readonly warn = (message: string, context?: Record<string, unknown>): void => this.write('warn', message, context)
  readonly error = (message: string, context?: Record<string, unknown>): void => this.write('error', message, context)

  has(text: string): boolean {
    return this.lines.some((line) => line.includes(text))
  }

  waitFor(text: string, ms = 20_000): Promise<void> {
    if (this.has(text)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`no log line with '${text}' within ${ms} ms`))
      }, ms)
      const check = (): void => {
        if (!this.has(text)) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      this.waiters.add(check)
    })
  }

  private write(level: string, message: string, context: Record<string, unknown> | undefined): void {
    this.lines.push(`${level} ${message} ${JSON.stringify(context ?? {})}`)
    for (const waiter of [...this.waiters]) waiter()
  }
}

/** The server (`startServer`) on 127.0.0.1, port 0; closed after the test, before the instances and stores. */
export async function startTestServer(offload: Offload, options: TestServerOptions = {}): Promise<TestServer> {
  const server = await startServer(offload, {
    port: 0,
    logger: options.logs ?? false,
    ...(options.tokens === undefined ? {} : { tokens: options.tokens }),
    ...(options.events === undefined ? {} : { events: options.events }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  })
  started.push(server)
  return server
}

/** GET (or `method`) `url` on a socket of its own (no keep-alive pool, so nothing outlives the test). */
export function get(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers, method }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, text }))
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** GET `url` and parse the JSON answer. */
export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await get(url, headers)
  return { status: response.status, body: JSON.parse(response.text) }
}
