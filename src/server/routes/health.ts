import type { FastifyInstance } from 'fastify'
import { isOffloadError, OffloadError } from '../../errors.js'
import type { ServerContext } from '../context.js'

/** A store that has not answered in this long is as good as down, for a load balancer's purposes. */
const READY_TIMEOUT_MS = 3000

const STATUS = { type: 'object', required: ['status'], properties: { status: { type: 'string' } } } as const

/**
 * `GET /healthz` (the process answers: restart it if not) and `GET /readyz` (it can serve: the
 * store answers; route traffic elsewhere if not). Both public, so probes need no token.
 */
export function healthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/healthz',
    {
      config: { scope: 'public' },
      schema: { summary: 'Liveness: the server process answers', tags: ['operations'], response: { 200: STATUS } },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      config: { scope: 'public' },
      schema: {
        summary: 'Readiness: the store answers',
        description: `200 when the store answered within ${READY_TIMEOUT_MS} ms; 503 STORE_UNAVAILABLE (with Retry-After) otherwise, and while the server shuts down.`,
        tags: ['operations'],
        response: { 200: STATUS },
      },
    },
    async () => {
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          ctx.offload.store.now(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new OffloadError('STORE_UNAVAILABLE', `the store did not answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
          }),
        ])
      } catch (error) {
        // Whatever went wrong, the answer to "can you serve?" is no: 503, never a 500.
        if (isOffloadError(error) && error.code === 'STORE_UNAVAILABLE') throw error
        throw new OffloadError('STORE_UNAVAILABLE', `the store failed: ${error instanceof Error ? error.message : String(error)}`)
      } finally {
        clearTimeout(timer)
      }
      return { status: 'ready' }
    },
  )
}
