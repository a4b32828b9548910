import type { FastifyInstance, FastifyRequest } from 'fastify'
import { bearerToken, type Credential, type Credentials } from '../auth.js'
import { HttpError } from '../http-error.js'
import { ERROR_SCHEMA } from '../schemas.js'
import { clearedSessionCookie, readSessionCookie, sessionCookie, verifySession } from '../session.js'

const SESSION_SCHEMA = {
  type: 'object',
  required: ['authenticated', 'tokensRequired', 'scope', 'name'],
  properties: {
    authenticated: { type: 'boolean', description: 'The request carries a valid session cookie or bearer token (always, on a server without tokens).' },
    tokensRequired: { type: 'boolean', description: 'The server has API tokens: without one, nothing but the health checks answers.' },
    scope: { type: ['string', 'null'], enum: ['read', 'write', 'admin', null], description: 'What the caller may do: read < write < admin.' },
    name: { type: ['string', 'null'], description: "The token's name." },
  },
} as const

const SIGN_IN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['token'],
  properties: { token: { type: 'string', minLength: 1, maxLength: 512, description: 'An API token of any scope.' } },
} as const

/**
 * The dashboard's sign-in: an API token given once becomes an HttpOnly, SameSite=Strict session
 * cookie, so the page's scripts never hold the token. `credentials` is undefined on a server
 * without tokens, where everyone is admin and there is nothing to sign in to.
 */
export function sessionRoutes(app: FastifyInstance, credentials: Credentials | undefined): void {
  const view = (credential: Credential | undefined) =>
    credentials === undefined
      ? { authenticated: true, tokensRequired: false, scope: 'admin', name: null }
      : { authenticated: credential !== undefined, tokensRequired: true, scope: credential?.scope ?? null, name: credential?.name ?? null }

  app.get(
    '/v1/session',
    {
      config: { scope: 'public' },
      schema: { summary: 'Who the caller is: signed in or not, and with what scope', tags: ['session'], response: { 200: SESSION_SCHEMA } },
    },
    async (request) => view(credentials === undefined ? undefined : identify(credentials, request)),
  )

  app.post<{ Body: { token: string } }>(
    '/v1/session',
    {
      config: { scope: 'public' },
      schema: {
        summary: 'Sign in with an API token: sets the session cookie the dashboard uses',
        description: `The cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) lasts 12 hours and ends early if the token is withdrawn. 401 INVALID_TOKEN for a token the server does not accept.`,
        tags: ['session'],
        body: SIGN_IN_SCHEMA,
        response: { 200: SESSION_SCHEMA, 401: ERROR_SCHEMA },
      },
    },
    async (request, reply) => {
      if (credentials === undefined) return view(undefined)
      const credential = credentials.byToken(request.body.token)
      if (credential === undefined) throw new HttpError(401, 'INVALID_TOKEN', 'the API token is not one this server accepts', {})
      reply.header('set-cookie', sessionCookie(credential, Date.now(), request.protocol === 'https'))
      return view(credential)
    },
  )

  app.delete(
    '/v1/session',
    {
      config: { scope: 'public' },
      schema: { summary: 'Sign out: clears the session cookie', tags: ['session'], response: { 204: { type: 'null', description: 'Signed out.' } } },
    },
    async (request, reply) => reply.code(204).header('set-cookie', clearedSessionCookie(request.protocol === 'https')).send(),
  )
}

/** The caller by bearer token or session cookie, without refusing anyone: `GET /v1/session` answers both. */
function identify(credentials: Credentials, request: FastifyRequest): Credential | undefined {
  const token = bearerToken(request.headers.authorization)
  if (token !== undefined) return credentials.byToken(token)
  const cookie = readSessionCookie(request.headers.cookie)
  return cookie === undefined ? undefined : verifySession(credentials, cookie, Date.now())
}
