import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { closest } from '../config.js'
import { isOffloadError, type OffloadErrorCode } from '../errors.js'
import type { Logger } from '../logger.js'
import { HttpError } from './http-error.js'

/** `{ "error": { "code", "message", "details" } }`: the body of every answer that is not a success. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> }
}

/** Seconds a client waits before trying again after backpressure or an outage: short, the condition passes quickly. */
const RETRY_AFTER_SECONDS = '1'

/**
 * Library error codes and the status each one is. A code absent here reaching a client is a bug
 * of the server (an option it built wrong, a job result it could not read): 500, and logged.
 * `TIMEOUT` never gets here: a long poll that times out answers the job as it is.
 */
const LIBRARY_STATUS: Partial<Record<OffloadErrorCode, number>> = {
  UNKNOWN_OPTION: 400,
  INVALID_OPTION: 400,
  INVALID_NAME: 400,
  UNKNOWN_TASK: 400,
  INVALID_PAYLOAD: 400,
  PAYLOAD_TOO_LARGE: 413,
  JOB_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  BREAKER_NOT_FOUND: 404,
  INVALID_STATE: 409,
  JOB_EXISTS: 409,
  QUEUE_FULL: 429,
  STORE_BUSY: 503,
  STORE_UNAVAILABLE: 503,
  CLOSED: 503,
}

/**
 * Fastify's own errors (the body parser, the router) by their `code`: the status and the stable
 * code a client sees instead of fastify's internal one.
 */
const FRAMEWORK_ERRORS: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_REQUEST', message: 'the body is not as long as its Content-Length says' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'the body is empty; send a JSON document' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'the body is not valid JSON' },
  FST_ERR_BAD_URL: { status: 400, code: 'INVALID_URL', message: 'the URL is malformed (a bad percent-encoding?)' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'URI_TOO_LONG', message: 'a path segment is too long' },
}

/**
 * The one place any error becomes an HTTP answer. Library errors keep their code and message
 * (they are good: "unknown task 'emial.send', did you mean 'email.send'?"); fastify's become
 * stable codes; anything else is a 500 `INTERNAL`, whose message hides the cause.
 */
export function toHttpError(error: unknown, bodyLimit: number): HttpError {
  if (error instanceof HttpError) return error
  if (isOffloadError(error)) {
    const status = LIBRARY_STATUS[error.code]
    if (status === undefined) return internal()
    const retry = status === 429 || status === 503
    return new HttpError(status, error.code, error.message, error.details, retry ? { 'retry-after': RETRY_AFTER_SECONDS } : {})
  }
  const fastifyError = error as Partial<FastifyError> | undefined
  if (fastifyError?.validation !== undefined) return validationError(fastifyError.validation, fastifyError.validationContext ?? 'body')
  const known = typeof fastifyError?.code === 'string' ? FRAMEWORK_ERRORS[fastifyError.code] : undefined
  if (known !== undefined) {
    if (known.code === 'BODY_TOO_LARGE') return new HttpError(413, known.code, `the body is over the ${bodyLimit}-byte limit`, { limit: bodyLimit })
    if (known.code === 'UNSUPPORTED_MEDIA_TYPE') {
      return new HttpError(415, known.code, 'send the body as application/json', { supported: ['application/json'] })
    }
    return new HttpError(known.status, known.code, known.message ?? String(fastifyError?.message), {})
  }
  // Anything else fastify raises while reading a request (an aborted upload, say) carries a 4xx
  // status: keep it, with a code made of the status's name.
  const status = fastifyError?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, statusCode(status), String(fastifyError?.message ?? STATUS_CODES[status]), {})
  }
  return internal()
}

function internal(): HttpError {
  return new HttpError(500, 'INTERNAL', 'the server failed to answer; the error is in its log', {})
}

/** `'Payload Too Large'` → `'PAYLOAD_TOO_LARGE'`. */
function statusCode(status: number): string {
  return (STATUS_CODES[status] ?? 'Error').toUpperCase().replace(/[^A-Z0-9]+/g, '_')
}

/** Where a validated part shows in a message: `body.jobs[2].priority`. */
const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

/** One failed schema rule, as a message and details; used for a request and for each item of a batch. */
export interface Problem {
  code: string
  message: string
  details: Record<string, unknown>
}

/**
 * Describes ajv's first error (requests are validated with `allErrors: false`, so there is one)
 * for people: `body.priority must be integer`, `unknown field 'priorty' in body, did you mean
 * 'priority'?`. `prefix` names what was validated, for a batch item `body.jobs[3]`.
 */
export function describeValidation(errors: readonly ValidationIssue[] | null | undefined, prefix: string): Problem {
  const issue = errors?.[0]
  if (issue === undefined) return { code: 'INVALID_REQUEST', message: `${prefix} is invalid`, details: {} }
  const path = prefix + issue.instancePath.split('/').slice(1).map(pathPart).join('')
  const details: Record<string, unknown> = { path, rule: issue.keyword, ...issue.params }
  if (issue.keyword === 'additionalProperties') {
    const field = String(issue.params.additionalProperty)
    const known = Object.keys((issue.parentSchema as { properties?: object } | undefined)?.properties ?? {})
    const suggestion = closest(field, known)
    return {
      code: 'UNKNOWN_FIELD',
      message:
        `unknown field '${field.length > 60 ? `${field.slice(0, 57)}...` : field}' in ${path}` +
        (suggestion !== undefined ? `, did you mean '${suggestion}'?` : known.length > 0 ? `; known: ${known.join(', ')}` : ': it takes none'),
      details: { path, field, suggestion: suggestion ?? null },
    }
  }
  if (issue.keyword === 'required') {
    return { code: 'INVALID_REQUEST', message: `${path} needs the field '${String(issue.params.missingProperty)}'`, details }
  }
  return { code: 'INVALID_REQUEST', message: `${path} ${issue.message ?? 'is invalid'}`, details }
}

/** What fastify and ajv say about one failed rule (`verbose` adds the schema it failed in). */
export interface ValidationIssue {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
  parentSchema?: unknown
}

function pathPart(segment: string): string {
  const key = segment.replaceAll('~1', '/').replaceAll('~0', '~')
  if (/^\d+$/.test(key)) return `[${key}]`
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

function validationError(issues: readonly ValidationIssue[], context: string): HttpError {
  const part = PART_NAMES[context] ?? context
  const problem = describeValidation(issues, part)
  return new HttpError(400, problem.code, problem.message, { in: part, ...problem.details })
}

export function errorBody(error: HttpError): ErrorBody {
  return { error: { code: error.code, message: error.message, details: error.details } }
}

/** Fastify's error handler: renders every error in the one format; logs the ones that are the server's fault. */
export function errorHandler(logger: Logger, bodyLimit: number) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const http = toHttpError(error, bodyLimit)
    if (http.status >= 500 && http.code === 'INTERNAL') {
      logger.error(`${request.method} ${request.url.slice(0, 200)} failed`, { error: error instanceof Error ? error : String(error) })
    }
    return reply.code(http.status).headers(http.headers).send(errorBody(http))
  }
}

/**
 * Node rejects some requests before fastify sees them (a malformed request line, headers over
 * the size limit): answer those in the error format too, then close the connection, as Node does.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'the request took too long to arrive']
        : [400, 'INVALID_REQUEST', 'the request is not valid HTTP/1.1']
  const body = JSON.stringify({ error: { code, message, details: {} } })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}
