import { OffloadError } from './errors.js'

/** Milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'2h'`, `'7d'`, `'1h30m'`. */
export type Duration = number | string

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y

/**
 * Parses a duration to whole milliseconds. `what` names the option in the error, so a caller sees
 * "timeout must be a duration such as '30s' or milliseconds, got 'soon'".
 */
export function parseDuration(value: unknown, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw invalid(what, value, 'must be a non-negative number of milliseconds')
    }
    return Math.round(value)
  }
  if (typeof value === 'string') {
    const text = value.trim()
    if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text))
    let total = 0
    PART.lastIndex = 0
    while (PART.lastIndex < text.length) {
      const start = PART.lastIndex
      const match = PART.exec(text)
      if (match === null || match.index !== start) {
        throw invalid(what, value, "must be a duration such as '30s', '5m' or milliseconds")
      }
      total += Number(match[1]) * UNIT_MS[match[2]!]!
    }
    if (text.length > 0) return Math.round(total)
  }
  throw invalid(what, value, "must be a duration such as '30s', '5m' or milliseconds")
}

function invalid(what: string, value: unknown, rule: string): OffloadError {
  return new OffloadError('INVALID_OPTION', `${what} ${rule}, got ${describe(value)}`, {
    option: what,
  })
}

/** Renders a value for an error message: short, and never throwing. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? 'Invalid' : value.toISOString()})`
  return typeof value === 'object' ? 'an object' : typeof value
}

/** Formats milliseconds for people: `850ms`, `12.3s`, `4m 05s`, `2h 10m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`
}
