import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach } from 'vitest'
import { isOffloadError, silentLogger, type Offload } from '../../src/index.js'
import { EventHub, type EventHubOptions } from '../../src/server/event-hub.js'
import { HttpError } from '../../src/server/http-error.js'
import { eventRoutes } from '../../src/server/routes/events.js'
import { metricsRoutes } from '../../src/server/routes/metrics.js'
import type { EventStreamOptions } from '../../src/server/sse.js'
import type { MetricsOptions } from '../../src/telemetry/metrics.js'

export interface TestServer {
  url: string
  app: FastifyInstance
  hub: EventHub
  close(): Promise<void>
}

export interface TestServerOptions {
  events?: EventStreamOptions
  metrics?: MetricsOptions
  hub?: Partial<EventHubOptions>
  /** Collects the server's log lines (JSON, debug and up). */
  logs?: LogLines
}

/** The server's log, to wait on a line the way a test waits on any other signal. */
export class LogLines {
  readonly lines: string[] = []
  private readonly waiters = new Set<() => void>()

  write(line: string): void {
    this.lines.push(line)
    for (const waiter of [...this.waiters]) waiter()
  }

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
}

const started: TestServer[] = []
afterEach(async () => {
  for (const server of started.splice(0)) await server.close()
})

/**
 * A real server on 127.0.0.1, port 0, with the event and metrics routes: until app.ts's
 * createServer lands, a minimal fastify with an error handler that renders errors the way the
 * real one does (`{ error: { code, message, details } }`). Closed after the test.
 */
export async function startTestServer(offload: Offload, options: TestServerOptions = {}): Promise<TestServer> {
  await offload.migrate()
  const hub = new EventHub(offload.store, { logger: silentLogger, pollMs: 50, ...options.hub })
  // Unknown query fields rejected rather than silently dropped, as the real server does.
  const logs = options.logs
  const app = Fastify({
    ajv: { customOptions: { removeAdditional: false } },
    logger: logs === undefined ? false : { level: 'debug', stream: { write: (line: string) => logs.write(line) } },
  })
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error instanceof HttpError) {
      return reply.status(error.status).headers(error.headers).send({ error: { code: error.code, message: error.message, details: error.details } })
    }
    if (isOffloadError(error)) {
      const status = error.code === 'JOB_NOT_FOUND' ? 404 : ['INVALID_OPTION', 'INVALID_NAME', 'UNKNOWN_OPTION'].includes(error.code) ? 400 : 500
      return reply.status(status).send({ error: { code: error.code, message: error.message, details: error.details } })
    }
    if (error.validation !== undefined) {
      return reply.status(400).send({ error: { code: 'INVALID_REQUEST', message: error.message, details: {} } })
    }
    return reply.status(500).send({ error: { code: 'INTERNAL', message: error.message, details: {} } })
  })
  const ctx = { offload, hub }
  eventRoutes(app, ctx, options.events)
  metricsRoutes(app, ctx, options.metrics)
  app.addHook('onClose', () => hub.stop())
  await hub.start()
  await app.listen({ host: '127.0.0.1', port: 0 })
  const server: TestServer = {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    app,
    hub,
    close: () => app.close(),
  }
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
