import type { FastifyInstance } from 'fastify'
import { OffloadError } from '../../errors.js'
import type { ScheduleOptions } from '../../schedules/schedule-options.js'
import { MAX_CATCH_UP } from '../../schedules/schedule-options.js'
import type { ScheduleInfo } from '../../store/store.js'
import type { ServerContext } from '../context.js'
import { DURATION, EMPTY_BODY, ERROR_SCHEMA } from '../schemas.js'

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ERROR_SCHEMA]))

const NAME_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128, description: 'The schedule name.' } },
} as const

/** The body of `PUT /v1/schedules/:name`: `ScheduleOptions` as JSON. */
const SCHEDULE_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['task', 'cron'],
  properties: {
    task: { type: 'string', minLength: 1, maxLength: 128, description: 'A task the server has loaded: each tick enqueues a job of it.' },
    cron: { type: 'string', minLength: 1, maxLength: 200, description: "5 fields ('0 3 * * *') or 6 with seconds first ('*/10 * * * * *')." },
    timezone: { type: 'string', minLength: 1, maxLength: 64, description: "The IANA time zone the expression is read in. Default 'UTC'." },
    payload: { description: 'The payload of every job: any JSON. Default null.' },
    queue: { type: 'string', minLength: 1, maxLength: 128, description: "The jobs' queue. Default: the task's." },
    priority: { type: 'integer', minimum: -1_000_000, maximum: 1_000_000, description: "The jobs' priority. Default: the task's." },
    attempts: { type: 'integer', minimum: 1, maximum: 1_000_000, description: "The jobs' attempts. Default: the task's." },
    timeout: { ...DURATION, description: "The jobs' timeout: '30s', '5m' or milliseconds. Default: the task's." },
    metadata: { type: 'object', additionalProperties: true, description: 'Metadata of every job; each tick adds schedule and scheduledFor.' },
    catchUp: {
      type: ['integer', 'boolean'],
      minimum: 0,
      maximum: MAX_CATCH_UP,
      description: 'After downtime, enqueue up to this many of the ticks missed by more than a minute (the most recent); false or 0 skips them. Default false.',
    },
    paused: { type: 'boolean', description: 'Default false for a new schedule; an existing one keeps its flag.' },
  },
} as const

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const

/** A schedule as the API shows it; built by `scheduleView`. */
const SCHEDULE_SCHEMA = {
  type: 'object',
  required: ['name', 'task', 'queue', 'cron', 'timezone', 'payload', 'priority', 'attempts', 'timeoutMs', 'metadata', 'catchUp', 'paused', 'source',
    'nextRunAt', 'lastRunAt', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    task: { type: 'string' },
    queue: { type: 'string' },
    cron: { type: 'string' },
    timezone: { type: 'string' },
    payload: { description: 'The payload of every job.' },
    priority: { type: 'integer' },
    attempts: { type: 'integer' },
    timeoutMs: { type: ['integer', 'null'] },
    metadata: { type: 'object', additionalProperties: true },
    catchUp: { type: 'integer', description: 'Missed ticks enqueued after downtime, at most; 0 skips them.' },
    paused: { type: 'boolean' },
    source: { type: 'string', enum: ['code', 'api'], description: 'code: declared in the application (written again when its workers start); api: created at run time.' },
    nextRunAt: { ...NULLABLE_TIME, description: 'The next tick to be enqueued; null when the expression never fires again.' },
    lastRunAt: { ...NULLABLE_TIME, description: 'The latest tick that enqueued a job; null before the first.' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const

const SCHEDULES_SCHEMA = {
  type: 'object',
  required: ['schedules'],
  properties: { schedules: { type: 'array', items: SCHEDULE_SCHEMA } },
} as const

/** Cron schedules: list them with their next runs; create, replace, pause, resume and delete them (admin). */
export function scheduleRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { offload } = ctx

  app.get(
    '/v1/schedules',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Every cron schedule, by name, with its next and last run',
        tags: ['schedules'],
        response: { 200: SCHEDULES_SCHEMA },
      },
    },
    async () => ({ schedules: (await offload.listSchedules()).map(scheduleView) }),
  )

  app.get<{ Params: { name: string } }>(
    '/v1/schedules/:name',
    {
      config: { scope: 'read' },
      schema: { summary: 'One cron schedule', tags: ['schedules'], params: NAME_PARAMS, response: { 200: SCHEDULE_SCHEMA, ...errors(400, 404) } },
    },
    async (request) => {
      const schedule = await offload.getSchedule(request.params.name)
      if (schedule === undefined) throw notFound(request.params.name)
      return scheduleView(schedule)
    },
  )

  app.put<{ Params: { name: string }; Body: ScheduleOptions }>(
    '/v1/schedules/:name',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Create or replace a cron schedule',
        description:
          'The task must be loaded by this server; job options are checked as an enqueue checks them. A new cron or timezone moves ' +
          'the next run; otherwise it stays. A schedule declared in code is written again from code when its workers start.',
        tags: ['schedules'],
        params: NAME_PARAMS,
        body: SCHEDULE_BODY,
        response: { 200: SCHEDULE_SCHEMA, ...errors(400) },
      },
    },
    async (request) => scheduleView(await offload.schedule(request.params.name, request.body)),
  )

  app.delete<{ Params: { name: string } }>(
    '/v1/schedules/:name',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Delete a cron schedule',
        description: '204 once deleted; the jobs it enqueued stay. A schedule still declared in code comes back when its workers start.',
        tags: ['schedules'],
        params: NAME_PARAMS,
        body: EMPTY_BODY,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      if (!(await offload.deleteSchedule(request.params.name))) throw notFound(request.params.name)
      return reply.code(204).send()
    },
  )

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    app.post<{ Params: { name: string } }>(
      `/v1/schedules/:name/${verb}`,
      {
        config: { scope: 'admin' },
        schema: {
          summary: paused ? 'Pause a cron schedule: its ticks enqueue nothing until it is resumed' : 'Resume a paused cron schedule',
          description: paused ? 'Pausing a paused schedule is fine.' : 'It goes on from its next tick after now: ticks missed while paused are not enqueued.',
          tags: ['schedules'],
          params: NAME_PARAMS,
          body: EMPTY_BODY,
          response: { 200: SCHEDULE_SCHEMA, ...errors(400, 404) },
        },
      },
      async (request) => scheduleView(await (paused ? offload.pauseSchedule(request.params.name) : offload.resumeSchedule(request.params.name))),
    )
  }
}

function notFound(name: string): OffloadError {
  return new OffloadError('SCHEDULE_NOT_FOUND', `no schedule named '${name}'`, { schedule: name })
}

/** A schedule as the API shows it: flat job options, times as ISO strings or null. */
export function scheduleView(schedule: ScheduleInfo): Record<string, unknown> {
  const { job, nextRunAt, lastRunAt, createdAt, updatedAt, ...plain } = schedule
  return {
    ...plain,
    priority: job.priority,
    attempts: job.maxAttempts,
    timeoutMs: job.timeoutMs ?? null,
    metadata: job.metadata ?? {},
    nextRunAt: nextRunAt?.toISOString() ?? null,
    lastRunAt: lastRunAt?.toISOString() ?? null,
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  }
}
