import { isOffloadError, type OffloadErrorCode } from '../errors.js'
import { oneLine } from './format.js'

/** Exit codes: documented in docs/cli.md, so scripts can tell "retry later" from "fix the command". */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/**
 * A mistake on the command line: unknown command or option, a missing or malformed value. The
 * CLI prints its message as one line and exits 2, before anything touches the store.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** An expected failure that is not the caller's mistake (a job that failed, a missing peer dependency): exit 1, no stack. */
export class CliFailure extends Error {
  override readonly name = 'CliFailure'
}

/**
 * Codes that mean the caller asked for something wrong; repeating the command unchanged cannot
 * succeed. Everything else (the store unreachable or busy, a bug) may pass another time: exit 1.
 */
const USAGE_CODES: ReadonlySet<OffloadErrorCode> = new Set<OffloadErrorCode>([
  'UNKNOWN_OPTION',
  'INVALID_OPTION',
  'INVALID_NAME',
  'UNKNOWN_TASK',
  'INVALID_PAYLOAD',
  'PAYLOAD_TOO_LARGE',
  'JOB_NOT_FOUND',
  'SCHEDULE_NOT_FOUND',
  'BREAKER_NOT_FOUND',
  'INVALID_STATE',
  'INVALID_STORE',
])

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE
  if (isOffloadError(error) && USAGE_CODES.has(error.code)) return EXIT_USAGE
  return EXIT_FAILURE
}

/** The one stderr line for an error: its message, flattened; unexpected errors say so. */
export function errorLine(error: unknown): string {
  const expected = error instanceof UsageError || error instanceof CliFailure || isOffloadError(error)
  const message = error instanceof Error ? error.message : String(error)
  return `offload: ${expected ? '' : 'unexpected error: '}${oneLine(message, 1000)}`
}
