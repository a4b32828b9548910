import { describe } from './duration.js'
import { OffloadError } from './errors.js'

/**
 * Task and queue names: 1–128 characters of letters, digits, `.`, `_`, `-` and `:`, starting with
 * a letter or digit. Wide enough for `image.resize` or `billing:invoice-v2`; narrow enough to sit
 * in a URL path, a metric label and a shell argument without quoting.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

export function checkName(value: unknown, what: 'task' | 'queue' | 'schedule'): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new OffloadError(
      'INVALID_NAME',
      `${what} name ${describe(value)} is not valid: use 1-128 letters, digits, '.', '_', '-' or ':', starting with a letter or digit`,
      { [what]: typeof value === 'string' ? value : null },
    )
  }
  return value
}

/**
 * Rejects keys of `options` outside `known`, naming the closest known one:
 * "unknown option 'concurrenc' in work(), did you mean 'concurrency'?". Options are checked at
 * start-up, so a typo fails loudly instead of silently falling back to a default.
 */
export function checkOptions(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const suggestion = closest(key, known)
    throw new OffloadError(
      'UNKNOWN_OPTION',
      `unknown option '${key}' in ${where}` + (suggestion ? `, did you mean '${suggestion}'?` : ''),
      { option: key, where, suggestion: suggestion ?? null },
    )
  }
}

/** The known word within edit distance ⌈length/3⌉ of `word`, if any — close enough to be a typo. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.ceil(word.length / 3)) + 1
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length]!
}

export interface NumberRule {
  min?: number
  max?: number
  integer?: boolean
}

export function checkNumber(value: unknown, what: string, rule: NumberRule = {}): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!rule.integer || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.max === undefined || value <= rule.max)
  if (!ok) {
    const kind = rule.integer ? 'an integer' : 'a number'
    const range =
      rule.min !== undefined && rule.max !== undefined
        ? ` from ${rule.min} to ${rule.max}`
        : rule.min !== undefined
          ? ` ≥ ${rule.min}`
          : rule.max !== undefined
            ? ` ≤ ${rule.max}`
            : ''
    throw new OffloadError('INVALID_OPTION', `${what} must be ${kind}${range}, got ${describe(value)}`, {
      option: what,
    })
  }
  return value as number
}

export function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OffloadError('INVALID_OPTION', `${what} must be an object, got ${describe(value)}`, { option: what })
  }
  return value as Record<string, unknown>
}

export function checkString(value: unknown, what: string, maxLength = 1024): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new OffloadError('INVALID_OPTION', `${what} must be a non-empty string of at most ${maxLength} characters, got ${describe(value)}`, {
      option: what,
    })
  }
  return value
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') {
    throw new OffloadError('INVALID_OPTION', `${what} must be true or false, got ${describe(value)}`, { option: what })
  }
  return value
}

/** A completion webhook's address: an absolute http(s) URL without credentials, at most 2048 characters. */
export function checkWebhookUrl(value: unknown, what: string): string {
  let url: URL | undefined
  try {
    url = typeof value === 'string' && value.length <= 2048 ? new URL(value) : undefined
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    throw new OffloadError('INVALID_OPTION', `${what} must be an http or https URL without credentials, got ${describe(value)}`, { option: what })
  }
  return value as string
}
