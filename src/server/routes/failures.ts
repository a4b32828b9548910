import type { FastifyInstance } from 'fastify'
import { normaliseErrorMessage, topStackFrame } from '../../fingerprint.js'
import type { ServerContext } from '../context.js'
import { ERROR_SCHEMA } from '../schemas.js'

const FINGERPRINT = { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'A failure group\'s fingerprint: 16 hex digits.' } as const
const SCOPE_FILTERS = {
  queue: { type: 'string', minLength: 1, maxLength: 128, description: 'Only failures of this queue.' },
  task: { type: 'string', minLength: 1, maxLength: 128, description: 'Only failures of this task.' },
} as const

const GROUPS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { ...SCOPE_FILTERS, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50, description: 'Groups to list, 1-1000. Default 50.' } },
} as const

const NULLABLE_STRING = { type: ['string', 'null'] } as const

const GROUPS_SCHEMA = {
  type: 'object',
  required: ['groups'],
  properties: {
    groups: {
      type: 'array',
      items: {
        type: 'object',
        required: ['fingerprint', 'name', 'message', 'frame', 'count', 'firstSeenAt', 'lastSeenAt', 'tasks', 'queues', 'sample'],
        properties: {
          fingerprint: { type: 'string' },
          name: { type: 'string', description: 'The error class.' },
          message: { type: 'string', description: 'The message with its variable parts (ids, numbers, quoted values) replaced by placeholders.' },
          frame: { ...NULLABLE_STRING, description: 'The top stack frame, without line and column.' },
          count: { type: 'integer', description: 'Failed jobs in the group now.' },
          firstSeenAt: { type: 'string', format: 'date-time' },
          lastSeenAt: { type: 'string', format: 'date-time' },
          tasks: { type: 'array', items: { type: 'string' } },
          queues: { type: 'array', items: { type: 'string' } },
          sample: {
            type: 'object',
            required: ['jobId', 'message', 'stack'],
            properties: { jobId: { type: 'string' }, message: { type: 'string' }, stack: NULLABLE_STRING },
            description: 'The newest failure of the group, as it was thrown.',
          },
        },
      },
    },
  },
} as const

/** Failure triage: failed jobs grouped by what failed them, and a group retried at once. */
export function failureRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { offload } = ctx

  app.get<{ Querystring: { queue?: string; task?: string; limit: number } }>(
    '/v1/failures',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Failed jobs grouped by error fingerprint, largest group first',
        description:
          'A fingerprint is the error class, its message with variable parts normalised away and the top stack frame: ' +
          '"user 12 not found" and "user 34 not found" thrown from the same place are one group. docs/failures.md.',
        tags: ['failures'],
        querystring: GROUPS_QUERY,
        response: { 200: GROUPS_SCHEMA, 400: ERROR_SCHEMA },
      },
    },
    async (request) => {
      const { queue, task, limit } = request.query
      const groups = await offload.listFailureGroups({ ...(queue !== undefined ? { queue } : {}), ...(task !== undefined ? { task } : {}), limit })
      return {
        groups: groups.map((group) => ({
          fingerprint: group.fingerprint,
          name: group.sample.name,
          message: normaliseErrorMessage(group.sample.message),
          frame: topStackFrame(group.sample.stack) || null,
          count: group.count,
          firstSeenAt: group.firstSeenAt.toISOString(),
          lastSeenAt: group.lastSeenAt.toISOString(),
          tasks: group.tasks,
          queues: group.queues,
          sample: { jobId: group.sample.jobId, message: group.sample.message, stack: group.sample.stack ?? null },
        })),
      }
    },
  )

  app.post<{ Params: { fingerprint: string }; Body: { queue?: string; task?: string } | null }>(
    '/v1/failures/:fingerprint/retry',
    {
      config: { scope: 'write' },
      schema: {
        summary: 'Retry every failed job of a group',
        description:
          'Each as by POST /v1/jobs/{id}/retry: back to queued with fresh attempts. A job whose idempotency key another unfinished job now holds stays failed. ' +
          'queue and task narrow the group, as in the listing.',
        tags: ['failures'],
        params: { type: 'object', additionalProperties: false, required: ['fingerprint'], properties: { fingerprint: FINGERPRINT } },
        body: { type: ['object', 'null'], additionalProperties: false, properties: SCOPE_FILTERS },
        response: { 200: { type: 'object', required: ['retried'], properties: { retried: { type: 'integer' } } }, 400: ERROR_SCHEMA },
      },
    },
    async (request) => {
      const { queue, task } = request.body ?? {}
      return offload.retryFailureGroup(request.params.fingerprint, { ...(queue !== undefined ? { queue } : {}), ...(task !== undefined ? { task } : {}) })
    },
  )
}
