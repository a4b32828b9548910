import { OffloadError } from './errors.js'

/**
 * Serialises `value` for storage, refusing what JSON would silently change: functions and symbols
 * (dropped), `NaN`/`Infinity` (become null), `undefined` in arrays (becomes null), Maps, Sets and
 * other class instances (become `{}`), BigInts and cycles (throw). A handler must get back exactly
 * what was enqueued, so a lossy payload is an error at enqueue time, not a surprise at run time.
 * Dates and other objects with their own `toJSON` are allowed.
 *
 * The check walks the value first and then calls the plain `JSON.stringify`: a replacer function
 * would be simpler but knocks V8 off its fast path, costing 2–4× on every enqueue.
 */
export function toJson(value: unknown, what: string): string {
  if (value === undefined) return 'null'
  const problem = findProblem(value, '', 0)
  if (problem !== undefined) {
    throw new OffloadError('INVALID_PAYLOAD', `${what} is not JSON-serialisable: ${problem}`, { what })
  }
  try {
    return JSON.stringify(value)
  } catch (error) {
    const reason = error instanceof TypeError && /circular/i.test(error.message) ? 'it contains a cycle' : String((error as Error)?.message ?? error)
    throw new OffloadError('INVALID_PAYLOAD', `${what} is not JSON-serialisable: ${reason}`, { what })
  }
}

/** Past this depth the walk stops; JSON.stringify still reports cycles below it. */
const MAX_CHECKED_DEPTH = 256

function findProblem(value: unknown, path: string, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : `${describePath(path)} is ${value}`
    case 'bigint':
      return `${describePath(path)} is a BigInt`
    case 'function':
    case 'symbol':
      return `${describePath(path)} is a ${typeof value}`
    case 'undefined':
      return undefined
  }
  if (value === null || depth > MAX_CHECKED_DEPTH) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (item === undefined) return `${describePath(`${path}[${i}]`)} is undefined inside an array`
      const problem = findProblem(item, `${path}[${i}]`, depth + 1)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined
    const name = (value as object).constructor?.name ?? 'object'
    return `${describePath(path)} is a ${name}, which JSON cannot carry`
  }
  for (const key in value) {
    const problem = findProblem((value as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`, depth + 1)
    if (problem !== undefined) return problem
  }
  return undefined
}

function describePath(path: string): string {
  return path === '' ? 'the value' : `property '${path}'`
}
