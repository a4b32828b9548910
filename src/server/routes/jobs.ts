import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parseDuration } from '../../duration.js'
import { isOffloadError, OffloadError } from '../../errors.js'
import { isFinished, type EnqueueOptions, type JobEvent, type JobInfo, type Json } from '../../job.js'
import type { EnqueueItem, Offload } from '../../offload.js'
import type { ServerContext } from '../context.js'
import { describeValidation, type Problem, type ValidationIssue } from '../errors.js'
import { HttpError } from '../http-error.js'
import {
  BATCH_RESULT_SCHEMA,
  BATCH_SCHEMA,
  EMPTY_BODY,
  ENQUEUE_SCHEMA,
  ERROR_SCHEMA,
  JOB_ID_PARAMS,
  JOB_PAGE_SCHEMA,
  JOB_SCHEMA,
  MAX_BATCH,
} from '../schemas.js'

/** What the job routes need besides the context. */
export interface JobRouteSettings {
  /** How long after its job finishes an idempotency key still returns it (the jobs' `keyTtl`). */
  idempotencyTtlMs: number
  /** Aborts when the server starts shutting down, so long polls answer at once instead of holding it up. */
  closing: AbortSignal
}

/** The longest long poll: past a minute, proxies and load balancers start cutting idle connections. */
export const MAX_WAIT_MS = 60_000
/** What `Retry-After` on a 202 tells a poller: look again in a second. */
const POLL_AFTER_SECONDS = '1'

/** A request body of `POST /v1/jobs`, as `ENQUEUE_SCHEMA` lets it through. */
interface EnqueueBody {
  task: string
  payload?: unknown
  queue?: string
  delay?: string | number
  runAt?: string
  priority?: number
  attempts?: number
  key?: string
  webhook?: string
  metadata?: Record<string, Json>
  group?: string
  debounce?: { key: string; delay: string | number; maxWait?: string | number }
  throttle?: { key: string; window: string | number }
}

interface IdParams {
  id: string
}

const IDEMPOTENCY_HEADERS = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 512,
      description: "The job's idempotency key: a repeat with the same key (for the same task) returns the first job, 200 with Idempotent-Replayed: true.",
    },
  },
} as const

const LIST_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: {
      type: 'array',
      maxItems: 7,
      items: { type: 'string', maxLength: 200 },
      description: 'Only jobs in these states: repeat it, or separate them with commas (state=failed,cancelled).',
    },
    queue: { type: 'string', maxLength: 200, description: 'Only jobs of this queue.' },
    task: { type: 'string', maxLength: 200, description: 'Only jobs of this task.' },
    key: { type: 'string', minLength: 1, maxLength: 512, description: 'Only the job that holds, or held, this idempotency key.' },
    fingerprint: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'Only failed jobs of this failure group (GET /v1/failures).' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50, description: 'Jobs per page, 1-1000. Default 50.' },
    cursor: { type: 'string', pattern: '^[0-9A-Za-z-]{1,64}$', description: 'nextCursor of the previous page.' },
  },
} as const

const WAIT_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    wait: {
      type: 'string',
      maxLength: 32,
      description: `Long poll: hold the answer until the job finishes or this long has passed ('30s', or milliseconds; at most ${MAX_WAIT_MS / 1000}s, longer waits that long). The job is answered as it is then.`,
    },
  },
} as const

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ERROR_SCHEMA]))

/** Jobs: enqueue one or a batch, read, long-poll, list, cancel, retry, delete. */
export function jobRoutes(app: FastifyInstance, ctx: ServerContext, settings: JobRouteSettings): void {
  const { offload } = ctx

  app.post<{ Body: EnqueueBody }>(
    '/v1/jobs',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Enqueue a job',
        description:
          '202 with the job once it is durable, Location: /v1/jobs/{id} and Retry-After (when to poll). With an idempotency key ' +
          '(the Idempotency-Key header, or key in the body) already held for the task, 200 with that job and Idempotent-Replayed: true: never a second job. ' +
          '429 QUEUE_FULL (with Retry-After) when the queue is at its maxQueued; a queue with whenFull: wait holds the answer until ' +
          'there is room (then 202) or its fullTimeout passes (then 429). A debounce or throttle that returns an existing job answers 200 as a key does.',
        tags: ['jobs'],
        headers: IDEMPOTENCY_HEADERS,
        body: ENQUEUE_SCHEMA,
        response: { 200: JOB_SCHEMA, 202: JOB_SCHEMA, ...errors(400, 413, 429) },
      },
    },
    async (request, reply) => {
      const key = idempotencyKey(request.headers['idempotency-key'], request.body.key)
      const item = toEnqueueItem(request.body, key, settings.idempotencyTtlMs)
      const [{ job, existing }] = (await whileAnswered(reply, settings.closing, (signal) => offload.submit([item], signal))) as [
        { job: JobInfo; existing: boolean },
      ]
      reply.header('location', `/v1/jobs/${job.id}`)
      if (!existing) return reply.code(202).header('retry-after', POLL_AFTER_SECONDS).send(jobView(job, []))
      return reply.code(200).header('idempotent-replayed', 'true').send(await detailedView(offload, job))
    },
  )

  app.post<{ Body: { jobs: unknown[] } }>(
    '/v1/jobs/batch',
    {
      config: { scope: 'write' },
      // Every item is checked, not only up to the first bad one: the handler lists them all.
      attachValidation: true,
      schema: {
        summary: `Enqueue up to ${MAX_BATCH} jobs in one transaction`,
        description:
          'All or nothing: every job is checked first, and if any is invalid the answer is 400 INVALID_BATCH whose details.items ' +
          'lists each bad job (index, code, message, details) and nothing is written. Otherwise 202 with one result per job, in order: ' +
          'status 202 for a new job, 200 (replayed: true) for a key that returned an existing one. Each job takes its own key; ' +
          'the Idempotency-Key header is refused here.',
        tags: ['jobs'],
        body: BATCH_SCHEMA,
        response: { 202: BATCH_RESULT_SCHEMA, ...errors(400, 413, 429) },
      },
    },
    async (request, reply) => {
      if (request.headers['idempotency-key'] !== undefined) {
        throw new HttpError(400, 'INVALID_REQUEST', 'a batch takes no Idempotency-Key header: give each job its own key', { header: 'idempotency-key' })
      }
      const items = checkBatch(request, offload, settings.idempotencyTtlMs)
      const results = await whileAnswered(reply, settings.closing, (signal) => offload.submit(items, signal))
      const views = await Promise.all(
        results.map(async ({ job, existing }) =>
          existing
            ? { status: 200, replayed: true, job: await detailedView(offload, job) }
            : { status: 202, replayed: false, job: jobView(job, []) },
        ),
      )
      return reply.code(202).header('retry-after', POLL_AFTER_SECONDS).send({ results: views })
    },
  )

  app.get<{ Params: IdParams; Querystring: { wait?: string } }>(
    '/v1/jobs/:id',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A job: state, attempts, progress, result, errors, timestamps, webhook deliveries',
        description: `With wait, a long poll: the answer comes when the job finishes or the wait ends (at most ${MAX_WAIT_MS / 1000}s), whichever is first.`,
        tags: ['jobs'],
        params: JOB_ID_PARAMS,
        querystring: WAIT_QUERY,
        response: { 200: JOB_SCHEMA, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const waitMs = request.query.wait === undefined ? 0 : Math.min(parseDuration(request.query.wait, 'wait'), MAX_WAIT_MS)
      let job = await offload.getJob(id)
      if (job === undefined) throw jobNotFound(id)
      if (waitMs > 0 && !isFinished(job.state)) job = await waitForJob(offload, id, waitMs, reply, settings.closing)
      return detailedView(offload, job)
    },
  )

  app.get<{ Querystring: { state?: string[]; queue?: string; task?: string; key?: string; fingerprint?: string; limit: number; cursor?: string } }>(
    '/v1/jobs',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'List jobs, newest first, a page at a time',
        description: 'Keyset pagination: pass nextCursor back as cursor until it is null. Jobs in a page carry webhook: null; GET a job for its deliveries.',
        tags: ['jobs'],
        querystring: LIST_QUERY,
        response: { 200: JOB_PAGE_SCHEMA, ...errors(400) },
      },
    },
    async (request) => {
      const { state, queue, task, key, fingerprint, limit, cursor } = request.query
      const states = state?.flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value.length > 0)
      const page = await offload.listJobs({
        ...(states !== undefined && states.length > 0 ? { state: states as JobInfo['state'][] } : {}),
        ...(queue !== undefined ? { queue } : {}),
        ...(task !== undefined ? { task } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(fingerprint !== undefined ? { fingerprint } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
        limit,
      })
      return { jobs: page.jobs.map((job) => jobView(job, undefined)), nextCursor: page.nextCursor ?? null }
    },
  )

  const action = (
    url: string,
    summary: string,
    description: string,
    run: (id: string) => Promise<JobInfo>,
    status: 200 | 202,
  ): void => {
    app.post<{ Params: IdParams }>(
      url,
      {
        config: { scope: 'write' },
        schema: { summary, description, tags: ['jobs'], params: JOB_ID_PARAMS, body: EMPTY_BODY, response: { [status]: JOB_SCHEMA, ...errors(400, 404, 409) } },
      },
      async (request, reply) => reply.code(status).send(await detailedView(offload, await run(request.params.id))),
    )
  }
  action(
    '/v1/jobs/:id/cancel',
    'Cancel a job that has not finished',
    'A running job is aborted through its signal. 409 INVALID_STATE if it already finished.',
    (id) => offload.cancelJob(id),
    200,
  )
  action(
    '/v1/jobs/:id/retry',
    'Put a failed or cancelled job back in its queue',
    'With a fresh set of attempts, due now: 202, like an enqueue. 409 INVALID_STATE for a job in any other state.',
    (id) => offload.retryJob(id),
    202,
  )

  const bulk: Record<JobAction, (id: string) => Promise<JobInfo | undefined>> = {
    retry: (id) => offload.retryJob(id),
    cancel: (id) => offload.cancelJob(id),
    delete: async (id) => void (await offload.deleteJob(id)),
  }
  app.post<{ Body: { action: JobAction; ids: string[] } }>(
    '/v1/jobs/actions',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Retry, cancel or delete many jobs at once',
        description:
          'Each job is acted on alone, as by its own endpoint, in the order given: one that cannot be (finished, not failed, missing) ' +
          'is reported with its error code and the rest go on. 200 with a result per id.',
        tags: ['jobs'],
        body: ACTIONS_SCHEMA,
        response: { 200: ACTION_RESULTS_SCHEMA, ...errors(400) },
      },
    },
    async (request) => {
      const run = bulk[request.body.action]
      const results: ActionResult[] = []
      for (const id of request.body.ids) {
        try {
          const job = await run(id)
          results.push(job === undefined ? { id, ok: true } : { id, ok: true, state: job.state })
        } catch (error) {
          // A job the action does not apply to is that job's answer; anything else is the server's trouble.
          if (!isOffloadError(error) || !ITEM_ERRORS.has(error.code)) throw error
          results.push({ id, ok: false, error: { code: error.code, message: error.message } })
        }
      }
      return { results }
    },
  )

  app.delete<{ Params: IdParams }>(
    '/v1/jobs/:id',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Delete a finished job and its events',
        description: '204 once deleted. 409 INVALID_STATE for a job that has not finished: cancel it first.',
        tags: ['jobs'],
        params: JOB_ID_PARAMS,
        body: EMPTY_BODY,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errors(400, 404, 409) },
      },
    },
    async (request, reply) => {
      await offload.deleteJob(request.params.id)
      return reply.code(204).send()
    },
  )
}

type JobAction = 'retry' | 'cancel' | 'delete'
type ActionResult = { id: string; ok: true; state?: JobInfo['state'] } | { id: string; ok: false; error: { code: string; message: string } }
/** What one job of a bulk action may answer with, leaving the others to go on. */
const ITEM_ERRORS = new Set(['JOB_NOT_FOUND', 'INVALID_STATE'])

const ACTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['action', 'ids'],
  properties: {
    action: { type: 'string', enum: ['retry', 'cancel', 'delete'] },
    ids: { type: 'array', minItems: 1, maxItems: MAX_BATCH, uniqueItems: true, items: JOB_ID_PARAMS.properties.id },
  },
} as const

const ACTION_RESULTS_SCHEMA = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'ok'],
        properties: {
          id: { type: 'string' },
          ok: { type: 'boolean' },
          state: { type: 'string', description: 'The job\'s state after a retry or cancel.' },
          error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
        },
      },
    },
  },
} as const

function jobNotFound(id: string): OffloadError {
  return new OffloadError('JOB_NOT_FOUND', `no job with id ${id}`, { id })
}

/** The key from the header or the body (the same thing); both at once must agree: two keys for one job is a mistake worth a 400. */
function idempotencyKey(header: string | string[] | undefined, body: string | undefined): string | undefined {
  if (Array.isArray(header)) throw new HttpError(400, 'INVALID_REQUEST', 'send one Idempotency-Key header', { header: 'idempotency-key' })
  if (header !== undefined && body !== undefined && header !== body) {
    throw new HttpError(400, 'INVALID_REQUEST', 'the Idempotency-Key header and the body\'s key differ: send one, or the same in both', {
      header: 'idempotency-key',
    })
  }
  return header ?? body
}

/** A request body as the library's enqueue item. Checks only what the library would let through or cannot see. */
function toEnqueueItem(body: EnqueueBody, key: string | undefined, keyTtlMs: number): EnqueueItem {
  const options: EnqueueOptions = {}
  if (body.queue !== undefined) options.queue = body.queue
  if (body.delay !== undefined) options.delay = body.delay
  if (body.runAt !== undefined) options.runAt = new Date(body.runAt)
  if (body.priority !== undefined) options.priority = body.priority
  if (body.attempts !== undefined) options.attempts = body.attempts
  if (body.webhook !== undefined) options.webhook = body.webhook
  if (body.metadata !== undefined) options.metadata = body.metadata
  if (body.group !== undefined) options.group = body.group
  if (body.debounce !== undefined) options.debounce = body.debounce
  if (body.throttle !== undefined) options.throttle = body.throttle
  if (key !== undefined) {
    options.key = key
    options.keyTtl = keyTtlMs
  }
  return { task: body.task, payload: body.payload === undefined ? null : body.payload, options }
}

/**
 * Every job of a batch checked before any is written, and every bad one reported: the schema
 * (each job on its own, so one bad job does not hide the next), then what the schema cannot say
 * — that the task exists, names, delay against runAt, the webhook — by the library's own checks
 * (`checkEnqueueItem`). What is left (a payload over `maxPayloadSize`) the library refuses at submit.
 */
function checkBatch(request: FastifyRequest<{ Body: { jobs: unknown[] } }>, offload: Offload, keyTtlMs: number): EnqueueItem[] {
  const failure = request.validationError as (Error & { validation?: ValidationIssue[] }) | undefined
  if (failure !== undefined) {
    // The first failure may be a job's while the envelope is wrong too: check the envelope alone.
    const envelope = request.compileValidationSchema(BATCH_ENVELOPE, 'body')
    if (!envelope(request.body) || !/^\/jobs\/\d+/.test(failure.validation?.[0]?.instancePath ?? '')) {
      throw Object.assign(failure, envelope.errors ? { validation: envelope.errors } : {})
    }
  }
  const validate = request.compileValidationSchema(ENQUEUE_SCHEMA, 'body')
  const problems: (Problem & { index: number })[] = []
  const items: EnqueueItem[] = []
  request.body.jobs.forEach((job, index) => {
    if (!validate(job)) {
      problems.push({ index, ...describeValidation(validate.errors as ValidationIssue[], `body.jobs[${index}]`) })
      return
    }
    const body = job as EnqueueBody
    try {
      const item = toEnqueueItem(body, body.key, keyTtlMs)
      offload.checkEnqueueItem(item)
      items.push(item)
    } catch (error) {
      if (!isOffloadError(error)) throw error
      problems.push({ index, code: error.code, message: error.message, details: error.details })
    }
  })
  if (problems.length > 0) {
    const count = problems.length === 1 ? 'one job is' : `${problems.length} jobs are`
    throw new HttpError(400, 'INVALID_BATCH', `${count} invalid (first: job ${problems[0]!.index}, ${problems[0]!.message}); nothing was written`, {
      items: problems,
    })
  }
  return items
}

/** The batch body without its jobs' schema: is the envelope itself right? */
const BATCH_ENVELOPE = {
  ...BATCH_SCHEMA,
  properties: { jobs: { ...BATCH_SCHEMA.properties.jobs, items: {} } },
} as const

/**
 * Waits for the job to finish, at most `waitMs`, and answers it as it is then. The wait ends
 * early when the client goes away (nobody to answer) or the server shuts down.
 */
async function waitForJob(offload: Offload, id: string, waitMs: number, reply: FastifyReply, closing: AbortSignal): Promise<JobInfo> {
  try {
    return await whileAnswered(reply, closing, (signal) => offload.waitForJob(id, { timeout: waitMs, signal }))
  } catch (error) {
    if (!isOffloadError(error, 'TIMEOUT') && !isOffloadError(error, 'ABORTED')) throw error
    const job = await offload.getJob(id)
    if (job === undefined) throw jobNotFound(id)
    return job
  }
}

/**
 * Runs `wait` with a signal that aborts when the client goes away (nobody to answer) or the server
 * shuts down. An enqueue waiting for room in a full queue that the shutdown ends answers 503, as
 * requests arriving during it do: nothing was written, and another server can take it.
 */
async function whileAnswered<T>(reply: FastifyReply, closing: AbortSignal, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const gone = new AbortController()
  // The response's 'close' before it was written is the client hanging up (the request's own
  // 'close' only says its body was read).
  const onClose = (): void => {
    if (!reply.raw.writableFinished) gone.abort()
  }
  reply.raw.on('close', onClose)
  if (reply.raw.destroyed) gone.abort()
  const signal = AbortSignal.any([gone.signal, closing])
  try {
    return await wait(signal)
  } catch (error) {
    // Only an enqueue's wait for room names a queue; a client that left sees no answer at all.
    if (signal.aborted && isOffloadError(error, 'ABORTED') && error.details.queue !== undefined) {
      throw new HttpError(503, 'SHUTTING_DOWN', 'the server is shutting down; nothing was written: try another one, or again shortly', {}, { 'retry-after': '1' })
    }
    throw error
  } finally {
    reply.raw.off('close', onClose)
  }
}

/** A job with its webhook deliveries, which are events: read only for a job that has a webhook. */
async function detailedView(offload: Offload, job: JobInfo): Promise<JobView> {
  if (job.webhook === undefined) return jobView(job, [])
  const events = await offload.jobEvents(job.id)
  return jobView(job, events.filter((event) => event.type === 'webhook'))
}

export type JobView = Record<string, unknown>

const iso = (date: Date | undefined): string | null => (date === undefined ? null : new Date(date).toISOString())

/**
 * A job as the API shows it: ISO dates, `attempts` for the attempts spent, null for what is not
 * there yet, its webhook with the delivery attempts (the job's `webhook` events; undefined when
 * they were not read, shown as null) and links to what can be done with it.
 */
export function jobView(job: JobInfo, deliveries: readonly JobEvent[] | undefined): JobView {
  const self = `/v1/jobs/${job.id}`
  const links: Record<string, string> = { self, events: `${self}/events` }
  if (!isFinished(job.state)) links.cancel = `${self}/cancel`
  if (job.state === 'failed' || job.state === 'cancelled') links.retry = `${self}/retry`
  return {
    id: job.id,
    task: job.task,
    queue: job.queue,
    state: job.state,
    payload: job.payload ?? null,
    result: job.result ?? null,
    metadata: job.metadata,
    priority: job.priority,
    attempts: job.attempt,
    maxAttempts: job.maxAttempts,
    progress: job.progress ?? null,
    errors: job.errors.map((error) => ({
      attempt: error.attempt,
      at: iso(error.at),
      name: error.name,
      message: error.message,
      ...(error.stack !== undefined ? { stack: error.stack } : {}),
    })),
    key: job.key ?? null,
    timeoutMs: job.timeoutMs ?? null,
    runAt: iso(job.runAt),
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    workerId: job.workerId ?? null,
    errorFingerprint: job.errorFingerprint ?? null,
    group: job.group ?? null,
    webhook:
      job.webhook === undefined
        ? null
        : {
            url: job.webhook,
            deliveries: deliveries === undefined ? null : deliveries.map((event) => ({ ...event.data, at: iso(event.at) })),
          },
    links,
  }
}
