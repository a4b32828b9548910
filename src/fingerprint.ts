/**
 * Error fingerprints: the key that groups failed jobs failing the same way, for triage.
 *
 * A fingerprint hashes three things: the error's class name, its message with the variable parts
 * (ids, numbers, times, quoted values, URLs) replaced by placeholders, and the top frame of its
 * stack without line and column. "user 123 not found" and "user 456 not found", thrown from the
 * same function, share a fingerprint; so do they after a redeploy that moved the function down a
 * few lines or into another release folder. Another class, another message or another throwing
 * function makes another group.
 *
 * Stores compute it when a job becomes `failed`, from that attempt's error as stored, and
 * migrations compute it for failed jobs stored before fingerprints existed: the same inputs always
 * give the same fingerprint, so never change these rules without a migration that recomputes
 * every stored fingerprint.
 */
import { createHash } from 'node:crypto'

/** The longest normalised message kept: past it, a message's tail does not split groups. */
const MAX_MESSAGE_LENGTH = 300
/** Folders that start the project-relative part of a path: a frame keeps its path from the last one. */
const SOURCE_ROOTS = new Set(['src', 'lib', 'dist', 'build', 'out', 'test', 'tests', 'app', 'server', 'packages'])

/** In order: each rule runs on the output of the previous ones, so a URL's digits never become `<n>`. */
const MESSAGE_RULES: readonly (readonly [RegExp, string])[] = [
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`<>()]+/gi, '<url>'],
  [/[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+/gi, '<email>'],
  // A quote right after a letter is an apostrophe (can't, user's), not the start of a quoted value.
  [/(?<![\p{L}\p{N}])'[^'\n]*'/gu, '<str>'],
  [/"(?:[^"\\\n]|\\.)*"/g, '<str>'],
  [/`[^`\n]*`/g, '<str>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/gi, '<time>'],
  [/\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<time>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  // Eight or more hex digits with a digit among them: ids, hashes, addresses. (A word of letters
  // a to f alone, "deadbeef" aside, is a word.)
  [/\b(?=[a-f]*\d)[0-9a-f]{8,}\b/gi, '<hex>'],
  [/\d+(?:[.,]\d+)*/g, '<n>'],
  [/\s+/g, ' '],
]

/**
 * The message with its variable parts replaced: URLs `<url>`, emails `<email>`, quoted values
 * (`'…'`, `"…"`, `` `…` ``) `<str>`, UUIDs `<uuid>`, ISO dates and times `<time>`, `0x…` and runs
 * of 8+ hex digits `<hex>`, other numbers `<n>`; whitespace collapsed, trimmed, at most 300
 * characters.
 */
export function normaliseErrorMessage(message: string): string {
  let text = message
  for (const [pattern, placeholder] of MESSAGE_RULES) text = text.replace(pattern, placeholder)
  text = text.trim()
  return text.length > MAX_MESSAGE_LENGTH ? text.slice(0, MAX_MESSAGE_LENGTH) : text
}

/**
 * The first `at …` line of a V8 stack, as `function (path)`, or `''` without one. Line and column
 * are dropped and the path is cut to its project-relative part (from the last `node_modules/`, else
 * from the last folder such as `src/` or `dist/`, else its last two parts), so neither a redeploy
 * that shifts lines nor one into a new folder changes it.
 */
export function topStackFrame(stack: string | undefined): string {
  if (stack === undefined) return ''
  const line = stack.split('\n').find((text) => /^\s*at\s/.test(text))
  if (line === undefined) return ''
  const frame = line.trim().slice(3).trim()
  // `fn (location)`, or a bare location for an anonymous function.
  const named = /^(.*?) \((.*)\)$/.exec(frame)
  const name = named === null ? '' : named[1]!.replace(/^async /, '')
  const location = shortenLocation(named === null ? frame : named[2]!)
  return name === '' ? location : `${name} (${location})`
}

/**
 * The fingerprint of an error: 16 lowercase hex characters hashing its class name, its normalised
 * message (`normaliseErrorMessage`) and its top stack frame (`topStackFrame`).
 */
export function errorFingerprint(error: { name: string; message: string; stack?: string | null }): string {
  const text = `${error.name}\n${normaliseErrorMessage(error.message)}\n${topStackFrame(error.stack ?? undefined)}`
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

/** A frame's location without line and column, its path cut to the part that survives a redeploy. */
function shortenLocation(location: string): string {
  const withoutPosition = location.replace(/(?::\d+){1,2}$/, '').replace(/(?::\d+){1,2}(?=[),])/g, '')
  if (!/[\\/]/.test(withoutPosition) || /^node:/.test(withoutPosition)) return withoutPosition
  // Only a plain path is cut; an eval frame's nested location stays whole, positions dropped.
  if (/[\s()]/.test(withoutPosition)) return withoutPosition
  const path = withoutPosition.replace(/^file:\/\//, '').replaceAll('\\', '/')
  const packageAt = path.lastIndexOf('/node_modules/')
  if (packageAt >= 0) return path.slice(packageAt + '/node_modules/'.length)
  const parts = path.split('/').filter((part) => part !== '')
  for (let i = parts.length - 2; i >= 0; i--) {
    if (SOURCE_ROOTS.has(parts[i]!)) return parts.slice(i).join('/')
  }
  return parts.slice(-2).join('/')
}

/**
 * The fingerprint of a failed job: its last attempt's error's. A job failed without any recorded
 * error (imported so) counts as an `Error` with no message.
 */
export function failureFingerprint(errors: readonly { name: string; message: string; stack?: string | null }[]): string {
  return errorFingerprint(errors[errors.length - 1] ?? { name: 'Error', message: '' })
}
