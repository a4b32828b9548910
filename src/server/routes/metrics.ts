import type { FastifyInstance } from 'fastify'
import { OffloadMetrics, type MetricsOptions } from '../../telemetry/metrics.js'
import type { ServerContext } from '../context.js'

/**
 * `GET /metrics`: Prometheus text. The metrics listen to the server's event hub from now on, so
 * register this before the hub starts to count every event it reads.
 */
export function metricsRoutes(app: FastifyInstance, ctx: ServerContext, options: MetricsOptions = {}): void {
  const metrics = new OffloadMetrics(ctx.offload, ctx.hub, options)
  app.addHook('onClose', async () => metrics.close())
  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Jobs by queue and state, paused queues and the age of their oldest queued job (read from the store at each ' +
          'scrape); enqueued, completed and failed counters and run- and wait-time histograms (from the event log, for ' +
          'every process on the store, since this server started); busy workers; process metrics. See ' +
          'docs/events-and-metrics.md.',
        tags: ['operations'],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => {
      const text = await metrics.scrape()
      return reply.type(metrics.contentType).send(text)
    },
  )
}
