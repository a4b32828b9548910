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
        querystring: { type: 'object', additionalProperties: false, properties: {} },
      },
    },
    async (_request, reply) => {
      const text = await metrics.scrape()
      return reply.type(metrics.contentType).send(text)
    },
  )
}
