import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { checkName, closest } from '../../config.js'
import { describe } from '../../duration.js'
import { OffloadError } from '../../errors.js'
import { isFinished, JOB_STATES, type JobEventType, type JobState } from '../../job.js'
import type { Logger } from '../../logger.js'
import type { ServerContext } from '../context.js'
import { HttpError } from '../http-error.js'
import { ERROR_SCHEMA, JOB_ID_PARAMS } from '../schemas.js'
import { EventStream, resolveEventStreamOptions, type EventStreamOptions, type StreamPlan } from '../sse.js'

/** Every event type; a `Record` so a type added to `JobEventType` must be added here too. */
const EVENT_TYPES = Object.keys({
  enqueued: true,
  promoted: true,
  started: true,
  completed: true,
  retrying: true,
  failed: true,
  snoozed: true,
  released: true,
  rescued: true,
  cancelled: true,
  retried: true,
  progress: true,
  log: true,
  webhook: true,
} satisfies Record<JobEventType, true>) as JobEventType[]

/** Events read from the log per round trip of a replay. */
const PAGE = 1000
/** The most events a JSON timeline holds; page on with `?after=` the last one's `seq`. */
const TIMELINE_LIMIT = 10_000

/** A `seq`: what `id:` carries and `Last-Event-ID` / `?after=` give back. */
const SEQ = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const
/** A comma-separated list, e.g. `state=completed,failed`. */
const LIST = { type: 'string', minLength: 1, maxLength: 4096 } as const

/** One event as the API shows it, in a timeline and as an SSE message's `data`. */
export const jobEventSchema = {
  type: 'object',
  required: ['seq', 'jobId', 'task', 'queue', 'at', 'type', 'state', 'attempt'],
  properties: {
    seq: { type: 'integer', description: 'Grows with every event across the store: the cursor for Last-Event-ID and ?after=.' },
    jobId: { type: 'string' },
    task: { type: 'string' },
    queue: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    type: { type: 'string', enum: EVENT_TYPES },
    state: { type: 'string', enum: JOB_STATES, description: "The job's state after the event." },
    attempt: { type: 'integer' },
    data: { type: 'object', additionalProperties: true, description: 'By type: started {workerId}, retrying/failed/rescued {error}, progress {progress}, log {message}, …' },
  },
} as const

/** What a stream's 200 holds, for /openapi.json: SSE text, not JSON. */
const EVENT_STREAM = {
  type: 'string',
  description: 'Messages of `id: <seq>`, `event: <type>`, `data: <the event as JSON>` (an event as in jobEventSchema), and heartbeat comments.',
} as const

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ERROR_SCHEMA]))

const lastEventIdHeader = {
  type: 'object',
  properties: {
    // Empty means none: some clients send the header empty before they have seen an id.
    'last-event-id': { type: 'string', pattern: '^[0-9]{0,15}$', description: 'Resume after this event seq (sent by EventSource on reconnect).' },
  },
} as const

export interface EventRouteOptions extends EventStreamOptions {
  /** Where streams report a failed replay, a paused or a dropped client. @defaultValue fastify's logger (`app.log`) */
  logger?: Logger
}

interface AllEventsQuery {
  queue?: string
  task?: string
  state?: string
  type?: string
  after?: number
}

interface JobEventsQuery {
  after?: number
}

/**
 * `GET /v1/events` (an SSE stream of every lifecycle event, filterable) and `GET /v1/jobs/:id/events`
 * (one job's timeline as JSON, or as an SSE stream that ends when the job finishes). Both stream
 * from the one `EventHub` of the server; only a replay reads the store itself.
 */
export function eventRoutes(app: FastifyInstance, ctx: ServerContext, options: EventRouteOptions = {}): void {
  const { logger: given, ...streamOptions } = options
  const settings = resolveEventStreamOptions(streamOptions)
  const logger = given ?? loggerOf(app)
  const open = new Set<EventStream>()
  let closing = false
  // Open streams never go idle, so the server's close would wait for them for ever.
  app.addHook('preClose', async () => {
    closing = true
    for (const stream of open) stream.end()
  })

  const run = async (stream: EventStream, reply: FastifyReply): Promise<void> => {
    // A request that was being prepared when the close began must not open a stream after it.
    if (closing) {
      stream.cancel()
      throw new HttpError(503, 'SHUTTING_DOWN', 'the server is shutting down; reconnect to another one, or again shortly', {}, {
        'retry-after': '1',
      })
    }
    open.add(stream)
    try {
      await stream.run(reply)
    } finally {
      open.delete(stream)
    }
  }

  app.get<{ Querystring: AllEventsQuery }>(
    '/v1/events',
    {
      config: { scope: 'read' },
      // A HEAD would open a stream with no body that never ends.
      exposeHeadRoute: false,
      schema: {
        summary: 'Every lifecycle event as a server-sent event stream, filterable',
        description:
          'Live events from now on, or from Last-Event-ID / ?after= (the log is replayed first, with no gap and no ' +
          'duplicate). Filters take comma-separated lists and combine with AND. Each message: id = seq, event = type, ' +
          'data = the event as JSON; a heartbeat comment every 15 s. The stream does not end by itself. See ' +
          'docs/events-and-metrics.md.',
        tags: ['events'],
        headers: lastEventIdHeader,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queue: { ...LIST, description: 'Only these queues.' },
            task: { ...LIST, description: 'Only these tasks.' },
            state: { ...LIST, description: "Only events that leave the job in these states." },
            type: { ...LIST, description: 'Only these event types.' },
            after: { ...SEQ, description: 'Replay from the event after this seq; Last-Event-ID wins when both are given.' },
          },
        },
        response: { 200: { description: 'The stream', content: { 'text/event-stream': { schema: EVENT_STREAM } } }, ...errors(400) },
      },
    },
    async (request, reply) => {
      const { query } = request
      const queues = list(query.queue, 'queue', (name) => checkName(name, 'queue'))
      const tasks = list(query.task, 'task', (name) => checkName(name, 'task'))
      const states = list(query.state, 'state', (name) => oneOf(name, JOB_STATES, 'job state'))
      const types = list(query.type, 'type', (name) => oneOf(name, EVENT_TYPES, 'event type'))
      const store = ctx.offload.store
      const plan: StreamPlan = {
        after: resumeFrom(request, query.after),
        history: (after) => store.eventList({ after, limit: PAGE }),
        pageSize: PAGE,
        accept: (event) =>
          (queues === undefined || queues.has(event.queue)) &&
          (tasks === undefined || tasks.has(event.task)) &&
          (states === undefined || states.has(event.state)) &&
          (types === undefined || types.has(event.type)),
      }
      await run(new EventStream(ctx.hub, plan, settings, logger), reply)
    },
  )

  app.get<{ Params: { id: string }; Querystring: JobEventsQuery }>(
    '/v1/jobs/:id/events',
    {
      config: { scope: 'read' },
      exposeHeadRoute: false,
      schema: {
        summary: "A job's event timeline: JSON, or a live stream that ends when the job finishes",
        description:
          'JSON { events } (oldest first, at most 10,000 per answer: page on with ?after=). With Accept: ' +
          'text/event-stream, the timeline (after Last-Event-ID or ?after=), then live events; the server ends the ' +
          'stream once the job is completed, failed or cancelled (at once for a job already finished).',
        tags: ['events'],
        headers: lastEventIdHeader,
        params: JOB_ID_PARAMS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { after: { ...SEQ, description: 'Only events after this seq.' } },
        },
        response: {
          200: {
            description: 'The timeline, or with Accept: text/event-stream the stream',
            content: {
              'application/json': {
                schema: { type: 'object', required: ['events'], properties: { events: { type: 'array', items: jobEventSchema } } },
              },
              'text/event-stream': { schema: EVENT_STREAM },
            },
          },
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const store = ctx.offload.store
      if (!wantsEventStream(request)) {
        // The answer depends on Accept: caches must keep the two apart. The type picks the JSON serialiser.
        void reply.header('vary', 'accept').type('application/json; charset=utf-8')
        const job = await ctx.offload.getJob(id)
        if (job === undefined) throw notFound(id)
        return { events: await store.eventList({ jobId: id, after: request.query.after ?? 0, limit: TIMELINE_LIMIT }) }
      }
      let state: JobState | undefined
      const plan: StreamPlan = {
        after: resumeFrom(request, request.query.after) ?? 0,
        history: (after) => store.eventList({ jobId: id, after, limit: PAGE }),
        pageSize: PAGE,
        accept: (event) => event.jobId === id,
        // Every event carries the job's state after it; with none sent, the state read at the start
        // stands (a client resuming after the final event gets nothing more and the end).
        done: (lastSent) => isFinished(lastSent?.state ?? state!),
      }
      // Subscribed before the job is read, so the state read is no older than the live events.
      const stream = new EventStream(ctx.hub, plan, settings, logger)
      try {
        const job = await ctx.offload.getJob(id)
        if (job === undefined) throw notFound(id)
        state = job.state
      } catch (error) {
        stream.cancel()
        throw error
      }
      await run(stream, reply)
    },
  )
}

/** `Accept: text/event-stream` (an `EventSource`), unless explicitly refused with `q=0`. */
function wantsEventStream(request: FastifyRequest): boolean {
  const accept = request.headers.accept
  if (accept === undefined) return false
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((piece) => piece.trim().toLowerCase())
    return type === 'text/event-stream' && !params.some((param) => /^q=0(\.0*)?$/.test(param))
  })
}

/** Where a stream resumes: `Last-Event-ID` (an `EventSource` reconnecting) wins over `?after=`. */
function resumeFrom(request: FastifyRequest, after: number | undefined): number | undefined {
  const header = request.headers['last-event-id']
  if (typeof header === 'string' && header !== '') return Number(header)
  return after
}

function notFound(id: string): OffloadError {
  return new OffloadError('JOB_NOT_FOUND', `no job with id ${id}`, { id })
}

/** A comma-separated filter as a set; undefined when absent. */
function list<T extends string>(value: string | undefined, what: string, check: (item: string) => T): Set<T> | undefined {
  if (value === undefined) return undefined
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '')
  if (items.length === 0) {
    throw new OffloadError('INVALID_OPTION', `${what} must name at least one value, got ${describe(value)}`, { option: what })
  }
  return new Set(items.map(check))
}

function oneOf<T extends string>(value: string, known: readonly T[], what: string): T {
  if ((known as readonly string[]).includes(value)) return value as T
  const suggestion = closest(value, known)
  throw new OffloadError(
    'INVALID_OPTION',
    `unknown ${what} ${describe(value)}` + (suggestion !== undefined ? `, did you mean '${suggestion}'?` : `; known: ${known.join(', ')}`),
    { option: what === 'job state' ? 'state' : 'type', suggestion: suggestion ?? null },
  )
}

/** Offload's `Logger` over fastify's, so streams report where the rest of the server does. */
function loggerOf(app: FastifyInstance): Logger {
  const log = app.log
  return {
    debug: (message, context) => log.debug(context ?? {}, message),
    info: (message, context) => log.info(context ?? {}, message),
    warn: (message, context) => log.warn(context ?? {}, message),
    error: (message, context) => log.error(context ?? {}, message),
  }
}
