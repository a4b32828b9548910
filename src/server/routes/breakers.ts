import type { FastifyInstance } from 'fastify'
import type { BreakerInfo } from '../../store/store.js'
import type { ServerContext } from '../context.js'
import { ERROR_SCHEMA } from '../schemas.js'

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const
const STATE = { type: 'string', enum: ['closed', 'open', 'half_open'] } as const

const BREAKER_SCHEMA = {
  type: 'object',
  required: ['task', 'group', 'state', 'failureRate', 'volume', 'openedAt', 'cooldownUntil', 'probesInFlight', 'settings', 'transitions', 'updatedAt'],
  properties: {
    task: { type: 'string' },
    group: { type: ['string', 'null'], description: 'The group of a per-group breaker; null for a task-wide one.' },
    state: { ...STATE, description: 'An open breaker whose cooldown has ended reads half_open: the next claim takes a probe.' },
    failureRate: { type: 'number', description: 'Failed attempts over attempts in the rolling window, 0–1.' },
    volume: { type: 'number', description: 'Attempts in the rolling window (the previous sub-window weighted by its share).' },
    openedAt: { ...NULLABLE_TIME, description: 'When it last opened, while it is not closed.' },
    cooldownUntil: { ...NULLABLE_TIME, description: 'When an open breaker lets probes through.' },
    probesInFlight: { type: 'integer' },
    settings: {
      type: 'object',
      required: ['threshold', 'minVolume', 'windowMs', 'cooldownMs', 'probes'],
      properties: {
        threshold: { type: 'number' },
        minVolume: { type: 'integer' },
        windowMs: { type: 'integer' },
        cooldownMs: { type: 'integer' },
        probes: { type: 'integer' },
      },
    },
    transitions: {
      type: 'object',
      description: 'How many times it moved to each state since it was first recorded.',
      required: ['closed', 'open', 'half_open'],
      properties: { closed: { type: 'integer' }, open: { type: 'integer' }, half_open: { type: 'integer' } },
    },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const

const RESET_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['task'],
  properties: { task: { type: 'string', minLength: 1, maxLength: 128, description: 'The task name.' } },
} as const

const RESET_BODY = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { group: { type: 'string', minLength: 1, maxLength: 256, description: "Only this group's breaker; without it, every breaker of the task." } },
} as const

const RESET_SCHEMA = {
  type: 'object',
  required: ['task', 'group', 'reset'],
  properties: { task: { type: 'string' }, group: { type: ['string', 'null'] }, reset: { type: 'integer', description: 'Breakers closed.' } },
} as const

/** Circuit breakers: their states, and closing one by hand. */
export function breakerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { offload } = ctx

  app.get(
    '/v1/breakers',
    {
      config: { scope: 'read' },
      schema: {
        summary: "Every task's circuit breakers: state, failure rate over the rolling window, cooldown end, settings",
        description: 'From the store, so true for every worker on it. A breaker appears once its task recorded an outcome. docs/circuit-breakers.md.',
        tags: ['breakers'],
        response: { 200: { type: 'object', required: ['breakers'], properties: { breakers: { type: 'array', items: BREAKER_SCHEMA } } } },
      },
    },
    async () => ({ breakers: (await offload.listBreakers()).map(breakerJson) }),
  )

  app.post<{ Params: { task: string }; Body: { group?: string } | null }>(
    '/v1/breakers/:task/reset',
    {
      config: { scope: 'admin' },
      schema: {
        summary: "Close a task's circuit breakers by hand (or one group's) and clear their windows",
        description: 'Workers claim the jobs it held back within half a second. 404 BREAKER_NOT_FOUND when none has recorded an outcome.',
        tags: ['breakers'],
        params: RESET_PARAMS,
        body: RESET_BODY,
        response: { 200: RESET_SCHEMA, 400: ERROR_SCHEMA, 404: ERROR_SCHEMA },
      },
    },
    async (request) => {
      const { task } = request.params
      const group = request.body?.group
      const { reset } = await offload.resetBreaker(task, group === undefined ? {} : { group })
      return { task, group: group ?? null, reset }
    },
  )
}

function breakerJson(info: BreakerInfo): Record<string, unknown> {
  return {
    ...info,
    group: info.group ?? null,
    openedAt: info.openedAt?.toISOString() ?? null,
    cooldownUntil: info.cooldownUntil?.toISOString() ?? null,
    updatedAt: info.updatedAt.toISOString(),
  }
}
