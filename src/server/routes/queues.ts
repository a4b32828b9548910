import type { FastifyInstance } from 'fastify'
import { JOB_STATES, type JobState } from '../../job.js'
import type { ServerContext } from '../context.js'
import type { QueueActivity } from '../event-hub.js'
import { ERROR_SCHEMA, EMPTY_BODY, QUEUE_PARAMS, QUEUE_STATE_SCHEMA, QUEUES_SCHEMA } from '../schemas.js'

const MINUTES = { type: 'array', items: { type: 'integer' }, minItems: 60, maxItems: 60 } as const
const ACTIVITY_SCHEMA = {
  type: 'object',
  required: ['bucketSeconds', 'start', 'since', 'queues'],
  properties: {
    bucketSeconds: { type: 'integer' },
    start: { type: 'string', format: 'date-time' },
    since: { type: 'string', format: 'date-time' },
    queues: {
      type: 'array',
      items: {
        type: 'object',
        required: ['queue', 'enqueued', 'completed', 'failed'],
        properties: { queue: { type: 'string' }, enqueued: MINUTES, completed: MINUTES, failed: MINUTES },
      },
    },
  },
} as const

const NO_COUNTS = { '1m': 0, '5m': 0, '15m': 0 }
const EMPTY_STATES = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as Record<JobState, number>

/** Queues: counts, throughput and head age per queue; pause and resume. */
export function queueRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { offload, hub } = ctx

  app.get(
    '/v1/queues',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Every queue: jobs by state, activity over the last 1, 5 and 15 minutes, the oldest queued job\'s age, paused or not',
        description:
          'Counts come from the store; activity from the events this server has seen since it started (activitySince), so ' +
          'right after a start the longer windows are partial. A queue appears once it holds jobs, was paused, or had activity.',
        tags: ['queues'],
        response: { 200: QUEUES_SCHEMA },
      },
    },
    async () => {
      const [stored, now] = await Promise.all([offload.listQueues(), offload.store.now()])
      const { since, queues: activity } = hub.activity()
      const byName = new Map(stored.map((queue) => [queue.queue, queue]))
      const names = [...new Set([...byName.keys(), ...activity.keys()])].sort()
      return {
        activitySince: since.toISOString(),
        queues: names.map((name) => {
          const queue = byName.get(name)
          const seen: QueueActivity | undefined = activity.get(name)
          const oldest = queue?.oldestQueuedAt
          return {
            queue: name,
            paused: queue?.paused ?? false,
            counts: queue?.counts ?? EMPTY_STATES,
            oldestQueuedAgeSeconds: oldest === undefined ? null : Math.max(0, now - oldest.getTime()) / 1000,
            enqueued: seen?.enqueued ?? NO_COUNTS,
            completed: seen?.completed ?? NO_COUNTS,
            failed: seen?.failed ?? NO_COUNTS,
          }
        }),
      }
    },
  )

  app.get(
    '/v1/queues/activity',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Enqueued, completed and failed jobs per minute over the last hour, per queue: what the dashboard charts',
        description:
          'Sixty one-minute buckets, oldest first, the current (partial) minute last; start is the first bucket\'s start. ' +
          'Minutes before since are unknown rather than quiet: a server reads the hour before its start back from the event log, up to a bound.',
        tags: ['queues'],
        response: { 200: ACTIVITY_SCHEMA },
      },
    },
    async () => {
      const { start, since, bucketMs, queues } = hub.history()
      return {
        bucketSeconds: bucketMs / 1000,
        start: start.toISOString(),
        since: since.toISOString(),
        queues: [...queues].sort(([a], [b]) => (a < b ? -1 : 1)).map(([queue, history]) => ({ queue, ...history })),
      }
    },
  )

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    app.post<{ Params: { queue: string } }>(
      `/v1/queues/:queue/${verb}`,
      {
        config: { scope: 'admin' },
        schema: {
          summary: paused ? 'Pause a queue: no worker claims its jobs until it is resumed' : 'Resume a paused queue',
          description: paused
            ? 'In every process. Running jobs finish; enqueues are still accepted. Pausing a paused queue is fine.'
            : 'Idle workers wake at once. Resuming a queue that is not paused is fine.',
          tags: ['queues'],
          params: QUEUE_PARAMS,
          body: EMPTY_BODY,
          response: { 200: QUEUE_STATE_SCHEMA, 400: ERROR_SCHEMA },
        },
      },
      async (request) => {
        const { queue } = request.params
        await (paused ? offload.pauseQueue(queue) : offload.resumeQueue(queue))
        return { queue, paused }
      },
    )
  }
}
