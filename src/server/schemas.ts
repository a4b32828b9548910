/**
 * The JSON schemas the HTTP API shares: what requests may hold and what answers look like. Route
 * modules put them in their route `schema`, fastify validates requests with them, serialises
 * answers with them, and `/openapi.json` is generated from them — so the documentation cannot
 * drift from what the server does.
 *
 * Request bodies are strict: `additionalProperties: false` everywhere, no type coercion (a body's
 * `"priority": "5"` is an error, not 5) and nothing removed silently (see `app.ts`).
 */
import { JOB_STATES } from '../job.js'
import { MAX_DELAY_MS } from '../offload.js'

/** The error body every non-2xx answer has. */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', description: 'Stable, machine-readable: switch on this.' },
        message: { type: 'string', description: 'For people; may change between versions.' },
        details: { type: 'object', additionalProperties: true, description: 'Machine-readable context: the field, the limit, a suggestion.' },
      },
    },
  },
} as const


/** `'30s'`, `'5m'`, `'1h30m'` or milliseconds. (One type list rather than `anyOf`, whose errors say nothing useful.) */
export const DURATION = { type: ['string', 'integer'], minLength: 1, maxLength: 32, minimum: 0, maximum: MAX_DELAY_MS } as const

/** The body of `POST /v1/jobs`, and each item of a batch. */
export const ENQUEUE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['task'],
  properties: {
    task: { type: 'string', minLength: 1, maxLength: 128, description: 'A task the server has loaded.' },
    payload: { description: "The task's input: any JSON. Default null." },
    queue: { type: 'string', minLength: 1, maxLength: 128, description: "Put the job on this queue instead of the task's." },
    delay: { ...DURATION, description: "Run no earlier than this long from now: '30s', '5m' or milliseconds." },
    runAt: { type: 'string', format: 'date-time', description: 'Run no earlier than this time (ISO 8601). Not with delay.' },
    priority: { type: 'integer', minimum: -1_000_000, maximum: 1_000_000, description: "Higher runs first within the queue. Default: the task's." },
    attempts: { type: 'integer', minimum: 1, maximum: 1_000_000, description: "Total attempts, the first run included. Default: the task's." },
    key: { type: 'string', minLength: 1, maxLength: 512, description: 'Idempotency key, as the Idempotency-Key header (which wins if both agree).' },
    webhook: { type: 'string', minLength: 1, maxLength: 2048, description: "An http(s) URL told of the job's outcome, signed. Default: the task's." },
    metadata: { type: 'object', additionalProperties: true, description: 'Free-form JSON stored with the job.' },
    group: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: "The job's group (a customer, a tenant): groups take turns, and the queue's groupConcurrency caps one group's running jobs.",
    },
    debounce: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'delay'],
      description:
        'One job for a burst: while the job of this key (per task) has not started, a repeat replaces its payload and options, ' +
        'pushes its run time to delay from now and answers 200 with it. Not with key, delay, runAt or throttle; alone in a batch.',
      properties: {
        key: { type: 'string', minLength: 1, maxLength: 512 },
        delay: { ...DURATION, description: "How long after the latest enqueue the job runs: '2s', or milliseconds (at least 1)." },
        maxWait: { ...DURATION, description: 'The longest a stream of repeats can hold the job back, from its first enqueue.' },
      },
    },
    throttle: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'window'],
      description: 'At most one job per key (per task) per window: a repeat within it answers 200 with the window’s job. Not with key or debounce; alone in a batch.',
      properties: {
        key: { type: 'string', minLength: 1, maxLength: 512 },
        window: { ...DURATION, description: "'1m', or milliseconds (at least 1)." },
      },
    },
  },
} as const

/** Most jobs in one batch: one transaction, and one answer that still fits comfortably in memory. */
export const MAX_BATCH = 1000

export const BATCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['jobs'],
  properties: {
    jobs: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: ENQUEUE_SCHEMA },
  },
} as const

/** Job ids are UUIDs; anything else in the path is a malformed id, told apart from an unknown one. */
export const JOB_ID_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9A-Za-z-]{1,64}$', description: 'The job id (a UUID).' } },
} as const

export const QUEUE_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['queue'],
  properties: { queue: { type: 'string', minLength: 1, maxLength: 128, description: 'The queue name.' } },
} as const

/** Endpoints that take no body accept none, an empty one, or `{}`; anything else is an unknown field. */
export const EMPTY_BODY = { type: ['object', 'null'], additionalProperties: false, properties: {} } as const

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const

const WINDOW_COUNTS = {
  type: 'object',
  required: ['1m', '5m', '15m'],
  properties: { '1m': { type: 'integer' }, '5m': { type: 'integer' }, '15m': { type: 'integer' } },
} as const

/** A job as the API shows it; built by `jobView` in routes/jobs.ts. */
export const JOB_SCHEMA = {
  type: 'object',
  required: [
    'id', 'task', 'queue', 'state', 'payload', 'result', 'metadata', 'priority', 'attempts', 'maxAttempts', 'progress', 'errors',
    'key', 'timeoutMs', 'runAt', 'createdAt', 'startedAt', 'finishedAt', 'workerId', 'errorFingerprint', 'group', 'webhook', 'links',
  ],
  properties: {
    id: { type: 'string' },
    task: { type: 'string' },
    queue: { type: 'string' },
    state: { type: 'string', enum: JOB_STATES },
    payload: { description: 'The input it was enqueued with.' },
    result: { description: "The handler's return value once completed, else null." },
    metadata: { type: 'object', additionalProperties: true },
    priority: { type: 'integer' },
    attempts: { type: 'integer', description: 'Attempts spent so far; a running attempt counts.' },
    maxAttempts: { type: 'integer' },
    progress: { description: 'The latest value the handler reported, or null.' },
    errors: {
      type: 'array',
      description: 'Each failed attempt, oldest first.',
      items: {
        type: 'object',
        required: ['attempt', 'at', 'name', 'message'],
        properties: {
          attempt: { type: 'integer' },
          at: { type: 'string', format: 'date-time' },
          name: { type: 'string' },
          message: { type: 'string' },
          stack: { type: 'string' },
        },
      },
    },
    key: { type: ['string', 'null'], description: 'The idempotency key, if any.' },
    timeoutMs: { type: ['integer', 'null'] },
    runAt: { type: 'string', format: 'date-time', description: 'When it becomes (or became) ready to run.' },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { ...NULLABLE_TIME, description: 'When the latest attempt started.' },
    finishedAt: { ...NULLABLE_TIME, description: 'When it completed, failed or was cancelled.' },
    workerId: { type: ['string', 'null'], description: 'The worker holding it while it runs.' },
    errorFingerprint: { type: ['string', 'null'], description: 'While it is failed: its failure group (GET /v1/failures, GET /v1/jobs?fingerprint=).' },
    group: { type: ['string', 'null'], description: "The job's group, if it was given one at enqueue." },
    webhook: {
      // Type lists rather than anyOf: the serialiser tries each anyOf branch against the value, on every answer.
      type: ['object', 'null'],
      description: 'The completion webhook, if any, with its delivery attempts (not read for list pages: null there).',
      required: ['url', 'deliveries'],
      properties: {
        url: { type: 'string' },
        deliveries: { type: ['array', 'null'], items: { type: 'object', additionalProperties: true } },
      },
    },
    links: {
      type: 'object',
      required: ['self', 'events'],
      properties: {
        self: { type: 'string' },
        events: { type: 'string' },
        cancel: { type: 'string', description: 'Present while the job can be cancelled.' },
        retry: { type: 'string', description: 'Present while the job can be retried.' },
      },
    },
  },
} as const

export const JOB_PAGE_SCHEMA = {
  type: 'object',
  required: ['jobs', 'nextCursor'],
  properties: {
    jobs: { type: 'array', items: JOB_SCHEMA },
    nextCursor: { type: ['string', 'null'], description: 'Pass as cursor for the next page; null on the last page.' },
  },
} as const

export const BATCH_RESULT_SCHEMA = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      description: 'One per submitted job, in order.',
      items: {
        type: 'object',
        required: ['status', 'replayed', 'job'],
        properties: {
          status: { type: 'integer', enum: [200, 202], description: '202 for a new job, 200 when its key returned an existing one.' },
          replayed: { type: 'boolean' },
          job: JOB_SCHEMA,
        },
      },
    },
  },
} as const

export const QUEUES_SCHEMA = {
  type: 'object',
  required: ['queues', 'activitySince'],
  properties: {
    activitySince: { type: 'string', format: 'date-time', description: 'Since when this server has counted activity: windows reaching further back are partial.' },
    queues: {
      type: 'array',
      items: {
        type: 'object',
        required: ['queue', 'paused', 'counts', 'oldestQueuedAgeSeconds', 'enqueued', 'completed', 'failed'],
        properties: {
          queue: { type: 'string' },
          paused: { type: 'boolean' },
          counts: {
            type: 'object',
            required: JOB_STATES,
            properties: Object.fromEntries(JOB_STATES.map((state) => [state, { type: 'integer' }])),
          },
          oldestQueuedAgeSeconds: { type: ['number', 'null'], description: 'How long the head of the queue has waited; null when none is queued.' },
          enqueued: { ...WINDOW_COUNTS, description: 'Jobs enqueued over the last 1, 5 and 15 minutes.' },
          completed: { ...WINDOW_COUNTS, description: 'Jobs completed over the last 1, 5 and 15 minutes: throughput.' },
          failed: { ...WINDOW_COUNTS, description: 'Jobs failed for good over the last 1, 5 and 15 minutes.' },
        },
      },
    },
  },
} as const

export const QUEUE_STATE_SCHEMA = {
  type: 'object',
  required: ['queue', 'paused'],
  properties: { queue: { type: 'string' }, paused: { type: 'boolean' } },
} as const
