import type { Offload } from '../offload.js'
import type { EventHub } from './event-hub.js'

/**
 * What a token may do. Each scope includes the ones before it: `read` sees jobs, queues, events
 * and metrics; `write` also enqueues, cancels, retries and deletes jobs; `admin` also pauses and
 * resumes queues and writes cron schedules (which enqueue on their own, for as long as they exist).
 */
export type Scope = 'read' | 'write' | 'admin'

/** What every route module gets: the Offload instance it serves and the process's one event tail. */
export interface ServerContext {
  offload: Offload
  hub: EventHub
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a caller's token needs for this route; `public` needs none (health checks). */
    scope?: Scope | 'public'
    /** Left out of /openapi.json: the dashboard's files, which are pages, not API. */
    hidden?: boolean
  }
}
