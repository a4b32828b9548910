import { createRequire } from 'node:module'
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP, type AddressInfo, type Socket } from 'node:net'
import fastify, { type FastifyBodyParser, type FastifyInstance, type FastifyRequest } from 'fastify'
import { checkBoolean, checkNumber, checkObject, checkOptions, checkString } from '../config.js'
import { describe, parseDuration, type Duration } from '../duration.js'
import { OffloadError } from '../errors.js'
import { consoleLogger, silentLogger, type Logger } from '../logger.js'
import type { Offload } from '../offload.js'
import { packageVersion } from '../package-version.js'
import type { MetricsOptions } from '../telemetry/metrics.js'
import { checkApiTokens, Credentials, installAuth, installCsrfGuard, parseTokenList, resolveRateLimit, type ApiToken, type RateLimitOptions, type ResolvedRateLimit } from './auth.js'
import type { ServerContext } from './context.js'
import { dashboardRoutes } from './dashboard.js'
import { clientErrorHandler, errorHandler } from './errors.js'
import { EventHub } from './event-hub.js'
import { HttpError } from './http-error.js'
import { openapiRoutes, RouteCatalog } from './openapi.js'
import { breakerRoutes } from './routes/breakers.js'
import { eventRoutes } from './routes/events.js'
import { failureRoutes } from './routes/failures.js'
import { healthRoutes } from './routes/health.js'
import { jobRoutes } from './routes/jobs.js'
import { metricsRoutes } from './routes/metrics.js'
import { queueRoutes } from './routes/queues.js'
import { scheduleRoutes } from './routes/schedules.js'
import { sessionRoutes } from './routes/session.js'
import { workerRoutes } from './routes/workers.js'
import type { EventStreamOptions } from './sse.js'

export interface ServerOptions {
  /**
   * The address to listen on. Anything but a loopback address (127.0.0.0/8, ::1, localhost) needs
   * `tokens`: the server refuses to expose an open API. @defaultValue `'127.0.0.1'`
   */
  host?: string
  /** The TCP port; 0 picks a free one (the `url` says which). @defaultValue 7070 */
  port?: number
  /**
   * Bearer tokens the API accepts, each with a scope. With none, every endpoint is open, which is
   * only allowed on a loopback `host`. `loadApiTokens` reads them from the environment and a file.
   * @defaultValue those in `process.env.OFFLOAD_API_TOKENS` (`scope:token,…`), else none
   */
  tokens?: readonly ApiToken[]
  /** The largest request body, in bytes; a larger one is refused with 413. @defaultValue 1048576 (1 MiB) */
  bodyLimit?: number
  /**
   * Requests each token may make: a bucket of `max` that refills `max` per `window`; over it,
   * 429 with Retry-After. `false` turns it off. Without tokens there is no per-token limit.
   * @defaultValue `{ max: 1000, window: '1s' }`
   */
  rateLimit?: RateLimitOptions | false
  /**
   * How long after its job finishes an `Idempotency-Key` still returns that job rather than making
   * a new one: the `keyTtl` of jobs enqueued with a key over HTTP. @defaultValue `'24h'`
   */
  idempotencyTtl?: Duration
  /** Where server errors (5xx) and event-stream trouble are reported; `false` for silence. @defaultValue warnings and errors to stderr */
  logger?: Logger | false
  /** How the server-sent event streams behave (heartbeats, slow clients): docs/events-and-metrics.md. @defaultValue each setting's own */
  events?: EventStreamOptions
  /** What `GET /metrics` tracks: docs/events-and-metrics.md. @defaultValue each setting's own */
  metrics?: MetricsOptions
  /** Serve the web dashboard at `/` (docs/dashboard.md); it uses the API like any client, with the same tokens. @defaultValue true */
  dashboard?: boolean
}

/** A listening server. */
export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:7070`. */
  url: string
  app: FastifyInstance
  /** Stops accepting connections, ends long polls and streams, waits for answers in flight. Idempotent. */
  close(): Promise<void>
}

const SERVER_OPTIONS = ['host', 'port', 'tokens', 'bodyLimit', 'rateLimit', 'idempotencyTtl', 'logger', 'events', 'metrics', 'dashboard'] as const

/** `ServerOptions` checked, with their defaults. */
export interface ServerSettings {
  host: string
  port: number
  tokens: readonly ApiToken[]
  bodyLimit: number
  rateLimit: ResolvedRateLimit | undefined
  idempotencyTtlMs: number
  logger: Logger
  /** Checked when their routes are registered. */
  events: EventStreamOptions
  metrics: MetricsOptions
  dashboard: boolean
}

/** Checks server options and resolves their defaults, touching nothing: bad input fails before a store is opened. */
export function resolveServerOptions(options: ServerOptions = {}): ServerSettings {
  checkObject(options, 'server options')
  checkOptions(options, SERVER_OPTIONS, 'the server options')
  const envTokens = process.env.OFFLOAD_API_TOKENS
  const tokens = options.tokens === undefined ? (envTokens ? parseTokenList(envTokens) : []) : checkApiTokens(options.tokens)
  const rateLimit = resolveRateLimit(options.rateLimit)
  if (options.logger !== undefined && options.logger !== false && typeof options.logger?.error !== 'function') {
    throw new OffloadError('INVALID_OPTION', `logger must be a Logger or false, got ${describe(options.logger)}`, { option: 'logger' })
  }
  return {
    host: options.host === undefined ? '127.0.0.1' : checkString(options.host, 'host', 255),
    port: options.port === undefined ? 7070 : checkNumber(options.port, 'port', { integer: true, min: 0, max: 65_535 }),
    tokens,
    bodyLimit: options.bodyLimit === undefined ? 1024 * 1024 : checkNumber(options.bodyLimit, 'bodyLimit', { integer: true, min: 1 }),
    // Without tokens there is no one to count requests against (checked all the same).
    rateLimit: tokens.length === 0 ? undefined : rateLimit,
    idempotencyTtlMs: parseDuration(options.idempotencyTtl ?? '24h', 'idempotencyTtl'),
    logger: options.logger === false ? silentLogger : (options.logger ?? consoleLogger),
    events: options.events === undefined ? {} : checkObject(options.events, 'events'),
    metrics: options.metrics === undefined ? {} : checkObject(options.metrics, 'metrics'),
    dashboard: options.dashboard === undefined ? true : checkBoolean(options.dashboard, 'dashboard'),
  }
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Only addresses that are loopback by their very form: a host name could resolve anywhere. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  const address = host.replace(/^\[(.*)\]$/, '$1')
  const family = isIP(address)
  return family !== 0 && LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4')
}

/** Refuses settings that would let anyone on the network enqueue and cancel jobs. */
export function checkExposure(settings: Pick<ServerSettings, 'host' | 'tokens'>): void {
  if (settings.tokens.length > 0 || isLoopback(settings.host)) return
  throw new OffloadError(
    'INVALID_OPTION',
    `refusing to listen on ${settings.host} without API tokens: anyone who can reach it could enqueue, cancel and delete jobs. ` +
      'Configure tokens (OFFLOAD_API_TOKENS or a tokens file), or listen on 127.0.0.1',
    { option: 'host', host: settings.host },
  )
}

/**
 * Fastify's own ajv compiler factory, found from fastify's location: it is fastify's dependency,
 * not ours, and brings the ajv that fastify is built and tested against.
 */
type ValidatorBuilder = (
  externalSchemas: Record<string, unknown>,
  options: { customOptions: Record<string, unknown> },
) => (route: { schema: unknown; httpPart?: string }) => unknown
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'))
const buildAjvValidator = (fastifyRequire('@fastify/ajv-compiler') as { AjvCompiler: () => ValidatorBuilder }).AjvCompiler()

/**
 * Two validators: bodies strictly as sent — no coercion (`"5"` is not 5), nothing removed, no
 * defaults filled in — and query strings, paths and headers, which are text, coerced to the
 * schema's types (`?limit=10` is 10; a single `?state=x` is a list). `verbose` keeps the schema of
 * a failed rule, so an unknown field's error can name the closest known one.
 */
function buildValidator(externalSchemas: Record<string, unknown>): (route: { schema: unknown; httpPart?: string }) => unknown {
  const common = { verbose: true, allowUnionTypes: true, removeAdditional: false }
  const body = buildAjvValidator(externalSchemas, { customOptions: { ...common, coerceTypes: false, useDefaults: false } })
  const text = buildAjvValidator(externalSchemas, { customOptions: { ...common, coerceTypes: 'array', useDefaults: true } })
  return (route) => (route.httpPart === 'body' ? body : text)(route)
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * JSON bodies only, and only valid UTF-8: the default parser would turn bad bytes into U+FFFD and
 * store a payload that is not what the client sent. An empty body is no body (a `POST …/cancel`
 * with a JSON content type and nothing else); routes that need one say so in their schema.
 */
function jsonParser(parse: FastifyBodyParser<string>): FastifyBodyParser<Buffer> {
  return (request, body, done) => {
    if (body.length === 0) return done(null, undefined)
    let text: string
    try {
      text = STRICT_UTF8.decode(body)
    } catch {
      return done(new HttpError(400, 'INVALID_JSON', 'the body is not valid UTF-8', {}), undefined)
    }
    parse(request, text, (error, value) => {
      if (error === null) return done(null, value)
      done(new HttpError(400, 'INVALID_JSON', `the body is not valid JSON: ${jsonProblem(text)}`, {}), undefined)
    })
  }
}

/** Why a body was refused, for the message; only runs on the error path. */
function jsonProblem(text: string): string {
  try {
    JSON.parse(text)
  } catch (error) {
    return (error as Error).message.slice(0, 200)
  }
  // It parses, so the secure parser refused it for a prototype-poisoning key.
  return 'it holds a __proto__ or constructor.prototype key, which is refused'
}

/**
 * The HTTP API on `offload`, not listening: `app.inject()` it in tests, or `listen` it yourself
 * (`startServer` does, and refuses an exposed address without tokens). The caller still owns
 * `offload`: closing the server does not close it.
 */
export function createServer(offload: Offload, options: ServerOptions = {}): FastifyInstance {
  return buildServer(offload, resolveServerOptions(options))
}

function buildServer(offload: Offload, settings: ServerSettings): FastifyInstance {
  const { logger, bodyLimit } = settings
  const handleError = errorHandler(logger, bodyLimit)
  const app = fastify({
    logger: false,
    bodyLimit,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Requests during shutdown get a 503 in the error format from the hook below, not fastify's own.
    return503OnClosing: false,
    // Fastify answers a malformed URL itself unless told how: in the one format, then.
    frameworkErrors: (error, request, reply) => handleError(error, request, reply),
    clientErrorHandler,
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
  })
  const catalog = new RouteCatalog(app)
  app.addHook('onRoute', (route) => {
    // Default-deny: a route that does not say who may call it is a mistake, caught at start-up.
    if (route.config?.scope === undefined) throw new Error(`${String(route.method)} ${route.url} declares no config.scope`)
  })
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(async (request) => {
    throw notFound(catalog, request)
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, jsonParser(app.getDefaultJsonParser('error', 'error')))

  const closing = new AbortController()
  // Node's close() ends idle keep-alive connections, but not one that has yet to send a request:
  // that would hold the server open until its client gave up (an HTTP client's spare connection).
  const unused = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket)
    socket.once('close', () => unused.delete(socket))
  })
  app.server.on('request', (request: IncomingMessage) => unused.delete(request.socket))
  app.addHook('preClose', async () => {
    closing.abort()
    for (const socket of unused) socket.destroy()
  })
  // A callback hook, not an async one: it runs on every request, and a promise per request shows.
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!closing.signal.aborted) return done()
    done(new HttpError(503, 'SHUTTING_DOWN', 'the server is shutting down; try another one, or again shortly', {}, { 'retry-after': '1', connection: 'close' }))
  })
  installCsrfGuard(app)
  const credentials = settings.tokens.length > 0 ? new Credentials(settings.tokens, settings.rateLimit) : undefined
  if (credentials !== undefined) installAuth(app, credentials, settings.rateLimit)

  const hub = new EventHub(offload.store, { logger })
  app.addHook('onReady', async () => {
    // The hub reads the event log directly from the store: let the instance apply its migrations
    // first (it does on its first call, when it migrates), and prove the store answers.
    await offload.listJobs({ limit: 1 })
    await hub.start()
  })
  app.addHook('onClose', async () => hub.stop())

  const ctx: ServerContext = { offload, hub }
  healthRoutes(app, ctx)
  jobRoutes(app, ctx, { idempotencyTtlMs: settings.idempotencyTtlMs, closing: closing.signal })
  queueRoutes(app, ctx)
  failureRoutes(app, ctx)
  workerRoutes(app, ctx)
  scheduleRoutes(app, ctx)
  breakerRoutes(app, ctx)
  eventRoutes(app, ctx, { ...settings.events, logger })
  metricsRoutes(app, ctx, settings.metrics)
  sessionRoutes(app, credentials)
  if (settings.dashboard) dashboardRoutes(app)
  openapiRoutes(app, catalog, packageVersion())
  return app
}

/** 405 with Allow when the path exists under other methods, else 404: both in the error format. */
function notFound(catalog: RouteCatalog, request: FastifyRequest): HttpError {
  const path = request.url.split('?')[0]!
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path
  const allowed = catalog.methodsFor(path)
  if (allowed.length > 0) {
    return new HttpError(405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${shown}; it takes ${allowed.join(', ')}`, { allowed }, {
      allow: allowed.join(', '),
    })
  }
  return new HttpError(404, 'NOT_FOUND', `no endpoint ${request.method} ${shown}; /openapi.json lists them`, { method: request.method, path: shown })
}

/**
 * Starts the API on `offload` and resolves once it listens. Refuses a non-loopback `host` without
 * `tokens` (`INVALID_OPTION`), and a port in use with a message that says so.
 */
export async function startServer(offload: Offload, options: ServerOptions = {}): Promise<RunningServer> {
  const settings = resolveServerOptions(options)
  checkExposure(settings)
  const app = buildServer(offload, settings)
  try {
    await app.listen({ host: settings.host, port: settings.port })
  } catch (error) {
    await app.close()
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      throw new OffloadError('INVALID_OPTION', `cannot listen on ${settings.host}:${settings.port}: the port is in use; choose another (0 picks a free one)`, {
        option: 'port',
      })
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new OffloadError('INVALID_OPTION', `cannot listen on host ${settings.host}: no such address on this machine`, { option: 'host' })
    }
    throw error
  }
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  return { url: `http://${host}:${address.port}`, app, close: () => (closed ??= app.close()) }
}
