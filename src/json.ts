import { OffloadError } from './errors.js'

/**
 * Serialises `value` for storage, refusing what JSON would silently change: functions and symbols
 * (dropped), `NaN`/`Infinity` (become null), `undefined` in arrays (becomes null), Maps, Sets and
 * other class instances (become `{}`), BigInts and cycles (throw). A handler must get back exactly
 * what was enqueued, so a lossy payload is an error at enqueue time, not a surprise at run time.
 * Dates are allowed: they serialise to ISO strings through their own `toJSON`.
 */
export function toJson(value: unknown, what: string): string {
  if (value === undefined) return 'null'
  let problem: string | undefined
  let text: string | undefined
  try {
    text = JSON.stringify(value, function (this: unknown, key: string, raw: unknown) {
      if (problem !== undefined) return undefined
      const holder = this as Record<string, unknown>
      const original = holder[key]
      switch (typeof original) {
        case 'function':
        case 'symbol':
          problem = `${pathOf(key)} is a ${typeof original}`
          return undefined
        case 'bigint':
          problem = `${pathOf(key)} is a BigInt`
          return undefined
        case 'number':
          if (!Number.isFinite(original)) problem = `${pathOf(key)} is ${original}`
          return raw
        case 'undefined':
          if (Array.isArray(holder)) problem = `${pathOf(key)} is undefined inside an array`
          return raw
        case 'object': {
          if (original === null || Array.isArray(original)) return raw
          const proto: unknown = Object.getPrototypeOf(original)
          if (proto !== Object.prototype && proto !== null && typeof (original as { toJSON?: unknown }).toJSON !== 'function') {
            const name = (original as object).constructor?.name ?? 'object'
            problem = `${pathOf(key)} is a ${name}, which JSON cannot carry`
          }
          return raw
        }
        default:
          return raw
      }
    })
  } catch (error) {
    const reason = error instanceof Error && /circular/i.test(error.message) ? 'it contains a cycle' : String((error as Error)?.message ?? error)
    throw new OffloadError('INVALID_PAYLOAD', `${what} is not JSON-serialisable: ${reason}`, { what })
  }
  if (problem !== undefined) {
    throw new OffloadError('INVALID_PAYLOAD', `${what} is not JSON-serialisable: ${problem}`, { what })
  }
  return text ?? 'null'
}

function pathOf(key: string): string {
  return key === '' ? 'the value' : `property '${key}'`
}

/** Byte length of a UTF-8 string without allocating a buffer. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

export function fromJson<T = unknown>(text: string | null | undefined): T | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as T)
}
