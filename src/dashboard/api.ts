/**
 * Every call the dashboard makes to the HTTP API goes through `api()`: same origin with the
 * session cookie, JSON both ways, and one error type carrying the API's `{ error: { code,
 * message, details } }`. A 401 anywhere means the session ended: the app is told once, here,
 * and shows the sign-in form instead of every page handling it.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** An endpoint this server does not have (a server older than the dashboard), as opposed to a missing job. */
export function isMissingEndpoint(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && error.code !== 'JOB_NOT_FOUND'
}

let unauthorized: (() => void) | undefined

/** Who is told when a call comes back 401 (the app, which shows the sign-in form). */
export function onUnauthorized(listener: (() => void) | undefined): void {
  unauthorized = listener
}

type Method = 'GET' | 'POST' | 'DELETE'

interface CallOptions {
  /** A 401 is the caller's to handle (signing in with a wrong token), not a session that ended. */
  expect401?: boolean
  signal?: AbortSignal
}

/**
 * Calls the API. Mutating calls always send a JSON body (`{}` when there is nothing to say): the
 * server takes only `application/json` for them, which a cross-site form cannot send.
 */
export async function api<T>(method: Method, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } }
  if (options.signal) init.signal = options.signal
  if (method !== 'GET') {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' }
    init.body = JSON.stringify(body ?? {})
  }
  let response: Response
  try {
    response = await fetch(path, init)
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    throw new ApiError(0, 'NETWORK', 'Cannot reach the Offload server. Is it running? The dashboard retries on the next refresh.')
  }
  if (response.status === 204) return undefined as T
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (response.ok) return parsed as T
  const error = toApiError(response, parsed, text)
  if (response.status === 401 && !options.expect401) unauthorized?.()
  throw error
}

function toApiError(response: Response, parsed: unknown, text: string): ApiError {
  const body = parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined
  const error = body?.error
  if (error !== undefined && typeof error.code === 'string' && typeof error.message === 'string') {
    const details = typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : {}
    return new ApiError(response.status, error.code, error.message, details)
  }
  // Not the API's own answer: a proxy's error page, say. Its first line says enough.
  const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200)
  return new ApiError(response.status, `HTTP_${response.status}`, `${response.status} ${response.statusText}${excerpt ? `: ${excerpt}` : ''}`)
}

/** A query string from the given values, leaving out empty ones; '' when none. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value))
  }
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}
