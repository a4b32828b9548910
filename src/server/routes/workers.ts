import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'

const WORKERS_SCHEMA = {
  type: 'object',
  required: ['workers'],
  properties: {
    workers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'host', 'pid', 'queues', 'concurrency', 'startedAt', 'lastSeenAt', 'running'],
        properties: {
          id: { type: 'string' },
          host: { type: 'string' },
          pid: { type: 'integer' },
          queues: { type: 'array', items: { type: 'string' } },
          concurrency: { type: 'integer' },
          startedAt: { type: 'string', format: 'date-time' },
          lastSeenAt: { type: 'string', format: 'date-time', description: 'Its latest heartbeat.' },
          running: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'task', 'queue', 'attempt', 'startedAt', 'progress'],
              properties: {
                id: { type: 'string' },
                task: { type: 'string' },
                queue: { type: 'string' },
                attempt: { type: 'integer' },
                startedAt: { type: ['string', 'null'], format: 'date-time' },
                progress: { description: "The handler's latest progress, or null." },
              },
            },
          },
        },
      },
    },
  },
} as const

/** The worker registry: every worker process that beat recently, and what it runs now. */
export function workerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/v1/workers',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Live worker processes: host, pid, queues, concurrency and the jobs each runs now',
        description: 'A worker beats on its heartbeat interval; one that stopped cleanly leaves at once, one that died drops out after a few missed beats. docs/workers.md.',
        tags: ['workers'],
        response: { 200: WORKERS_SCHEMA },
      },
    },
    async () => {
      const workers = await ctx.offload.listWorkers()
      return {
        workers: workers.map((worker) => ({
          ...worker,
          startedAt: worker.startedAt.toISOString(),
          lastSeenAt: worker.lastSeenAt.toISOString(),
          running: worker.running.map((job) => ({ ...job, startedAt: job.startedAt?.toISOString() ?? null, progress: job.progress ?? null })),
        })),
      }
    },
  )
}
