import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { checkNumber, checkObject, checkOptions, closest } from '../config.js'
import { describe, parseDuration, type Duration } from '../duration.js'
import { OffloadError } from '../errors.js'
import type { Scope } from './context.js'
import { HttpError } from './http-error.js'
import { readSessionCookie, verifySession } from './session.js'

/** A bearer token the API accepts, and what it may do. */
export interface ApiToken {
  /**
   * The secret a client sends as `Authorization: Bearer <token>`: at least 16 characters of
   * printable ASCII without spaces or commas (`openssl rand -hex 32` makes a good one).
   */
  token: string
  /** `read` sees jobs, queues, events and metrics; `write` also enqueues, cancels, retries and deletes; `admin` also pauses and resumes queues. */
  scope: Scope
  /** Names the token in logs and messages, which never show the token itself. @defaultValue `'token-<n>'`, by position */
  name?: string
}

/** The per-token request budget: a token bucket that holds `max` requests and refills `max` per `window`. */
export interface RateLimitOptions {
  /** Requests per window, and the largest burst. @defaultValue 1000 */
  max?: number
  /** @defaultValue `'1s'` */
  window?: Duration
}

export const SCOPES: readonly Scope[] = ['read', 'write', 'admin']
const RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 }
const TOKEN_FIELDS = ['token', 'scope', 'name'] as const
const RATE_LIMIT_OPTIONS = ['max', 'window'] as const
const TOKEN_PATTERN = /^[\x21-\x2b\x2d-\x7e]{16,512}$/

/**
 * Checks tokens given to the server: each an `ApiToken`, no token twice. The error names the
 * token by position or name, never by its value.
 */
export function checkApiTokens(value: unknown, where = 'tokens'): ApiToken[] {
  if (!Array.isArray(value)) throw new OffloadError('INVALID_OPTION', `${where} must be an array of { token, scope, name? }, got ${describe(value)}`, { option: 'tokens' })
  const seen = new Set<string>()
  return value.map((entry: unknown, index) => {
    const at = `${where}[${index}]`
    const token = checkObject(entry, at)
    checkOptions(token, TOKEN_FIELDS, at)
    const name = token.name === undefined ? `token-${index + 1}` : token.name
    if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
      throw new OffloadError('INVALID_OPTION', `${at}.name must be a string of 1-100 characters`, { option: 'tokens' })
    }
    if (typeof token.token !== 'string' || !TOKEN_PATTERN.test(token.token)) {
      throw new OffloadError(
        'INVALID_OPTION',
        `${at} (${name}): the token must be 16-512 characters of printable ASCII without spaces or commas; make one with 'openssl rand -hex 32'`,
        { option: 'tokens', name },
      )
    }
    if (seen.has(token.token)) throw new OffloadError('INVALID_OPTION', `${at} (${name}) repeats a token given before it`, { option: 'tokens', name })
    seen.add(token.token)
    return { token: token.token, scope: checkScope(token.scope, `${at}.scope`), name }
  })
}

function checkScope(value: unknown, what: string): Scope {
  if (SCOPES.includes(value as Scope)) return value as Scope
  const suggestion = typeof value === 'string' ? closest(value, SCOPES) : undefined
  throw new OffloadError(
    'INVALID_OPTION',
    `${what} must be one of ${SCOPES.join(', ')}, got ${describe(value)}` + (suggestion !== undefined ? `; did you mean '${suggestion}'?` : ''),
    { option: 'tokens', suggestion: suggestion ?? null },
  )
}

/**
 * Tokens from the environment: `OFFLOAD_API_TOKENS="read:<token>,admin:<token>"`, a comma-separated
 * list of `scope:token`. Named `env-1`, `env-2`, … by position.
 */
export function parseTokenList(text: string, where = 'OFFLOAD_API_TOKENS'): ApiToken[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  const tokens = entries.map((entry, index) => {
    const colon = entry.indexOf(':')
    if (colon <= 0) {
      throw new OffloadError('INVALID_OPTION', `${where} entry ${index + 1} must be scope:token (read, write or admin, a colon, the token)`, { option: where })
    }
    return { scope: entry.slice(0, colon), token: entry.slice(colon + 1), name: `env-${index + 1}` }
  })
  return checkApiTokens(tokens, where)
}

/**
 * Reads a tokens file: JSON `{ "tokens": [{ "name": "ci", "scope": "write", "token": "…" }] }`.
 * Keep it readable by the server's user only; the server never writes it.
 */
export function readTokensFile(path: string): ApiToken[] {
  let document: unknown
  try {
    document = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new OffloadError('INVALID_OPTION', `cannot read the tokens file ${path}: ${error instanceof Error ? error.message : String(error)}`, { option: 'tokensFile' })
  }
  const file = checkObject(document, `the tokens file ${path}`)
  checkOptions(file, ['tokens'], `the tokens file ${path}`)
  return checkApiTokens(file.tokens, `${path}: tokens`)
}

/**
 * API tokens from the environment variable and/or a tokens file, together: a deployment can keep
 * the admin token in a file and inject a CI token through the environment.
 */
export function loadApiTokens(sources: { env?: string | undefined; file?: string | undefined }): ApiToken[] {
  const tokens = [...(sources.env ? parseTokenList(sources.env) : []), ...(sources.file !== undefined ? readTokensFile(sources.file) : [])]
  return checkApiTokens(tokens, 'API tokens')
}

/** A rate limit resolved to a refill rate, or undefined for none. */
export interface ResolvedRateLimit {
  max: number
  windowMs: number
}

export function resolveRateLimit(value: unknown): ResolvedRateLimit | undefined {
  if (value === false) return undefined
  const options = value === undefined ? {} : checkObject(value, 'rateLimit')
  checkOptions(options, RATE_LIMIT_OPTIONS, 'rateLimit')
  const windowMs = parseDuration(options.window ?? '1s', 'rateLimit.window')
  if (windowMs < 1) throw new OffloadError('INVALID_OPTION', 'rateLimit.window must be at least 1ms', { option: 'rateLimit.window' })
  return { max: options.max === undefined ? 1000 : checkNumber(options.max, 'rateLimit.max', { integer: true, min: 1 }), windowMs }
}

/** A token as the server holds it: never the token itself, only its digest. */
export interface Credential {
  name: string
  scope: Scope
  digest: Buffer
  /** Token bucket: requests left, as of `refilledAt`. */
  budget: number
  refilledAt: number
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest()

/** The tokens a server accepts, looked up by value (in constant time) or by name. */
export class Credentials {
  private readonly list: Credential[]

  constructor(tokens: readonly ApiToken[], rateLimit: ResolvedRateLimit | undefined) {
    this.list = tokens.map((token) => ({
      name: token.name ?? 'token',
      scope: token.scope,
      digest: sha256(token.token),
      budget: rateLimit?.max ?? 0,
      refilledAt: performance.now(),
    }))
  }

  /** The credential of a token's value. Every credential is compared, so the time taken says nothing about which matched. */
  byToken(token: string): Credential | undefined {
    const digest = sha256(token)
    let found: Credential | undefined
    for (const credential of this.list) if (timingSafeEqual(credential.digest, digest)) found = credential
    return found
  }

  byName(name: string): Credential | undefined {
    return this.list.find((credential) => credential.name === name)
  }
}

/** Methods that change nothing: the only ones a cross-site request may make. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Bearer-token or session-cookie authentication, scope checks and the per-token rate limit, as one
 * `onRequest` hook: it runs before the body is read, so a caller without a token cannot make the
 * server parse a megabyte of JSON. A route's `config.scope` says what it needs; `public` and the
 * not-found handler (no scope) need nothing.
 */
export function installAuth(app: FastifyInstance, credentials: Credentials, rateLimit: ResolvedRateLimit | undefined): void {
  app.addHook('onRequest', async (request) => {
    const required = request.routeOptions.config.scope
    if (required === undefined || required === 'public') return
    const credential = authenticate(credentials, request)
    if (RANK[credential.scope] < RANK[required]) {
      throw new HttpError(
        403,
        'INSUFFICIENT_SCOPE',
        `this endpoint needs a token with the '${required}' scope; ${credential.name} has '${credential.scope}'`,
        { required, scope: credential.scope },
        { 'www-authenticate': `Bearer realm="offload", error="insufficient_scope", scope="${required}"` },
      )
    }
    if (rateLimit !== undefined) spend(credential, rateLimit)
  })
}

/**
 * Refuses state-changing requests a browser made for another site's page (cross-site request
 * forgery): a browser says where a request comes from in `Sec-Fetch-Site`, or failing that in
 * `Origin`. Clients that are not browsers send neither and are let through — they authenticate
 * with a bearer token, which a browser never attaches by itself. A signed-in dashboard's cookie is
 * attached by itself, so `authenticate` also refuses a cookie on a state-changing request that
 * carries neither header. Installed with or without tokens: an open loopback server must not be
 * steerable by any web page its user visits.
 */
export function installCsrfGuard(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (SAFE_METHODS.has(request.method)) return done()
    const site = request.headers['sec-fetch-site']
    if (site !== undefined) return done(site === 'same-origin' || site === 'none' ? undefined : crossSite(`Sec-Fetch-Site is ${site}`))
    const origin = request.headers.origin
    if (origin !== undefined && !sameHost(origin, request.headers.host)) return done(crossSite(`Origin ${origin.slice(0, 200)} is not this server`))
    done()
  })
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}

function crossSite(why: string): HttpError {
  return new HttpError(403, 'CROSS_SITE_REQUEST', `refused a state-changing request from another site (${why}); use the dashboard's own pages or an API token`, {})
}

function authenticate(credentials: Credentials, request: FastifyRequest): Credential {
  const header = request.headers.authorization
  if (header === undefined) {
    const session = readSessionCookie(request.headers.cookie)
    if (session !== undefined) return sessionCredential(credentials, request, session)
  }
  const token = bearerToken(header)
  if (token === undefined) {
    throw new HttpError(
      401,
      'MISSING_TOKEN',
      header === undefined
        ? 'this endpoint needs an API token: send Authorization: Bearer <token>, or sign in to the dashboard'
        : 'the Authorization header must be Bearer <token>',
      {},
      { 'www-authenticate': 'Bearer realm="offload"' },
    )
  }
  const found = credentials.byToken(token)
  if (found === undefined) {
    throw new HttpError(401, 'INVALID_TOKEN', 'the API token is not one this server accepts', {}, {
      'www-authenticate': 'Bearer realm="offload", error="invalid_token"',
    })
  }
  return found
}

/** The token of an `Authorization: Bearer <token>` header; undefined for no header or another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(header)?.[1]
}

function sessionCredential(credentials: Credentials, request: FastifyRequest, cookie: string): Credential {
  const credential = verifySession(credentials, cookie, Date.now())
  if (credential === undefined) {
    throw new HttpError(401, 'SESSION_EXPIRED', 'the dashboard session has expired or its token was withdrawn: sign in again', {}, {
      'www-authenticate': 'Bearer realm="offload"',
    })
  }
  if (!SAFE_METHODS.has(request.method) && request.headers['sec-fetch-site'] === undefined && request.headers.origin === undefined) {
    throw crossSite('a signed-in request that changes something must say where it comes from (Origin or Sec-Fetch-Site)')
  }
  return credential
}

/** Takes one request from the token's bucket, or refuses with 429 and when to come back. */
function spend(credential: Credential, limit: ResolvedRateLimit): void {
  const now = performance.now()
  const perMs = limit.max / limit.windowMs
  credential.budget = Math.min(limit.max, credential.budget + (now - credential.refilledAt) * perMs)
  credential.refilledAt = now
  if (credential.budget >= 1) {
    credential.budget -= 1
    return
  }
  const waitSeconds = Math.max(1, Math.ceil((1 - credential.budget) / perMs / 1000))
  throw new HttpError(
    429,
    'RATE_LIMITED',
    `${credential.name} is over its rate limit of ${limit.max} requests per ${limit.windowMs} ms; retry after ${waitSeconds}s`,
    { limit: limit.max, windowMs: limit.windowMs },
    { 'retry-after': String(waitSeconds) },
  )
}
