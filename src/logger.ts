/** Where Offload reports what it cannot throw to a caller: a store outage in a worker loop, a late handler. */
export interface Logger {
  debug(message: string, context?: Record<string, unknown>): void
  info(message: string, context?: Record<string, unknown>): void
  warn(message: string, context?: Record<string, unknown>): void
  error(message: string, context?: Record<string, unknown>): void
}

const noop = (): void => {}

/** The default: warnings and errors to stderr, one line each; nothing else. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (message, context) => console.warn(`offload: ${message}${suffix(context)}`),
  error: (message, context) => console.error(`offload: ${message}${suffix(context)}`),
}

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

function suffix(context: Record<string, unknown> | undefined): string {
  if (context === undefined) return ''
  const parts = Object.entries(context).map(([key, value]) => `${key}=${value instanceof Error ? value.message : String(value)}`)
  return parts.length > 0 ? ` (${parts.join(', ')})` : ''
}
