import type { FastifyInstance, RouteOptions } from 'fastify'
import type { Scope } from './context.js'
import { ERROR_SCHEMA } from './schemas.js'

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the endpoint in /openapi.json. */
    summary?: string
    /** More words for /openapi.json: behaviour, limits, what each status means. */
    description?: string
    /** Groups endpoints in /openapi.json: `jobs`, `queues`, `events`, `operations`. */
    tags?: readonly string[]
  }
}

interface CatalogRoute {
  methods: string[]
  url: string
  /** Matches a request path to this route's URL pattern (`:id` is one path segment). */
  pattern: RegExp
  schema: RouteOptions['schema']
  scope: Scope | 'public' | undefined
  hidden: boolean
}

/**
 * Every route the server registers, as it is registered (an `onRoute` hook, so routes of every
 * module count, whoever wrote them). It answers two questions: which methods a path allows (a 405
 * says so), and what the API looks like (`/openapi.json`, generated from the routes' schemas).
 */
export class RouteCatalog {
  private readonly routes: CatalogRoute[] = []

  constructor(app: FastifyInstance) {
    app.addHook('onRoute', (route) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String)
      // Fastify adds a HEAD route for each GET: count it for Allow, but it is no operation of its own.
      const pattern = new RegExp(`^${route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]\w*/g, '[^/]+')}/?$`)
      this.routes.push({ methods, url: route.url, pattern, schema: route.schema, scope: route.config?.scope, hidden: route.config?.hidden === true })
    })
  }

  /** The methods some route allows on `path`, for a 405's Allow header; none for a path nothing serves. */
  methodsFor(path: string): string[] {
    const methods = new Set<string>()
    for (const route of this.routes) if (route.pattern.test(path)) for (const method of route.methods) methods.add(method)
    return [...methods].sort()
  }

  /** An OpenAPI 3.1 document of every route (JSON Schema as the routes declare it: 3.1 speaks it natively). */
  document(info: { version: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {}
    for (const route of this.routes) {
      if (route.hidden) continue
      const path = route.url.replace(/:([A-Za-z_]\w*)/g, '{$1}')
      for (const method of route.methods) {
        if (method === 'HEAD') continue
        paths[path] ??= {}
        paths[path][method.toLowerCase()] = operation(route, method)
      }
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'Offload HTTP API',
        version: info.version,
        description:
          'Durable background jobs over HTTP. Every error is { "error": { "code", "message", "details" } }. ' +
          'See docs/http-api.md for the whole story.',
      },
      paths,
      components: {
        schemas: { Error: ERROR_SCHEMA },
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token with the scope the endpoint names.' } },
      },
    }
  }
}

function operation(route: CatalogRoute, method: string): Record<string, unknown> {
  const schema = (route.schema ?? {}) as Record<string, any>
  const parameters = [
    ...parametersOf(schema.params, 'path'),
    ...parametersOf(schema.querystring, 'query'),
    ...parametersOf(schema.headers, 'header'),
  ]
  const responses: Record<string, unknown> = {}
  for (const [status, response] of Object.entries((schema.response ?? {}) as Record<string, any>)) {
    const description = typeof response?.description === 'string' ? response.description : `${status} answer`
    if (response?.content !== undefined) {
      const content = Object.fromEntries(Object.entries(response.content as Record<string, { schema: unknown }>).map(([type, entry]) => [type, { schema: entry.schema }]))
      responses[status] = { description, content }
    } else if (response?.type === 'null' || status === '204') responses[status] = { description }
    else responses[status] = { description, content: { 'application/json': { schema: response } } }
  }
  responses.default = { description: 'An error, in the one error format', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
  const scope = route.scope
  const op: Record<string, unknown> = {
    operationId: `${method.toLowerCase()}${route.url.replace(/[/:]+(\w)/g, (_, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
    summary: schema.summary,
    description: [schema.description, scope !== undefined && scope !== 'public' ? `Needs a token with the \`${scope}\` scope (when the server has tokens).` : undefined]
      .filter(Boolean)
      .join('\n\n'),
    tags: schema.tags,
    parameters,
    responses,
  }
  if (schema.body !== undefined) {
    const optional = Array.isArray(schema.body.type) && schema.body.type.includes('null')
    op.requestBody = { required: !optional, content: { 'application/json': { schema: schema.body } } }
  }
  op.security = scope === 'public' ? [] : [{ bearer: [] }]
  return op
}

function parametersOf(schema: any, where: 'path' | 'query' | 'header'): Record<string, unknown>[] {
  if (schema?.properties === undefined) return []
  const required = new Set<string>(schema.required ?? [])
  return Object.entries(schema.properties as Record<string, Record<string, unknown>>).map(([name, property]) => {
    const { description, ...rest } = property
    return { name, in: where, required: where === 'path' || required.has(name), description, schema: rest }
  })
}

/** `GET /openapi.json`: public, since it is what a client reads before it has a token. Built once, on first request. */
export function openapiRoutes(app: FastifyInstance, catalog: RouteCatalog, version: string): void {
  let document: string | undefined
  app.get(
    '/openapi.json',
    { config: { scope: 'public' }, schema: { summary: 'This document: the API as OpenAPI 3.1', tags: ['operations'] } },
    async (_request, reply) => {
      document ??= JSON.stringify(catalog.document({ version }))
      return reply.type('application/json; charset=utf-8').send(document)
    },
  )
}
