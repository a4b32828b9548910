/**
 * An error that is already an HTTP answer: its status, a stable `code`, a message for people and
 * machine-readable `details`. The server's error handler renders it as
 * `{ "error": { "code", "message", "details" } }` with `headers` added (`Retry-After`, …).
 * Library errors (`OffloadError`) are mapped to statuses in one place, the error handler; routes
 * throw this only for what is HTTP's own (a bad header, a missing token, a rate limit).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError'

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}
