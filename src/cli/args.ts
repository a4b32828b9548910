import { parseArgs } from 'node:util'
import { closest } from '../config.js'
import { parseDuration } from '../duration.js'
import { UsageError } from './exit.js'

/** One command-line option: how it parses and how `--help` shows it. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** May be given more than once; every value is kept. */
  multiple?: boolean
  /** The value's placeholder in help, e.g. `<url>`. */
  value?: string
  description: string
  /** The default as help shows it. */
  defaultText?: string
}

export type OptionSpecs = Record<string, OptionSpec>

type Value = string | boolean | string[]

/**
 * Parses `args` against `specs`; `where` names the command in messages (`offload jobs`). node:util's own strict mode would do most of this, but its
 * messages are multi-line and offer no suggestion, so parsing is lenient (tokens only) and every
 * rule is checked here, with one-line messages and a did-you-mean for unknown options.
 */
export function parseCommandArgs(args: readonly string[], specs: OptionSpecs, where: string): Args {
  const { tokens } = parseArgs({ args: [...args], options: specs, strict: false, allowPositionals: true, tokens: true })
  const values: Record<string, Value> = {}
  const positionals: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    if (token.kind === 'option-terminator') continue
    const spec = specs[token.name]
    if (spec === undefined) {
      const known = Object.keys(specs).map((name) => `--${name}`)
      const suggestion = token.rawName.startsWith('--') ? closest(token.rawName, known) : undefined
      throw new UsageError(
        `unknown option '${token.rawName}' for '${where}'` +
          (suggestion !== undefined ? `, did you mean '${suggestion}'?` : `; see '${where} --help'`),
      )
    }
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} does not take a value (got '${token.value}')`)
      values[token.name] = true
      continue
    }
    if (token.value === undefined) {
      const next = args[token.index + 1]
      throw new UsageError(
        `${token.rawName} needs a value${spec.value ? ` ${spec.value}` : ''}` +
          (next !== undefined && next.startsWith('-') ? `; for a value that starts with '-', write ${token.rawName}=${next}` : ''),
      )
    }
    if (!token.inlineValue && token.value.startsWith('-')) {
      // Lenient parsing took the next option as this one's value: almost always a forgotten value.
      throw new UsageError(`${token.rawName} needs a value, got the option '${token.value}'; if you mean it, write ${token.rawName}=${token.value}`)
    }
    if (spec.multiple) {
      const list = (values[token.name] as string[] | undefined) ?? []
      list.push(token.value)
      values[token.name] = list
    } else values[token.name] = token.value
  }
  return new Args(values, positionals)
}

/** Parsed options with typed, validated accessors; each failure is a `UsageError` naming the flag. */
export class Args {
  constructor(
    private readonly values: Record<string, Value>,
    readonly positionals: readonly string[],
  ) {}

  has(name: string): boolean {
    return this.values[name] !== undefined
  }

  flag(name: string): boolean {
    return this.values[name] === true
  }

  string(name: string): string | undefined {
    const value = this.values[name]
    return typeof value === 'string' ? value : undefined
  }

  /** Every value of a repeatable option, each also split on commas: `--tasks a.ts,b.ts --tasks c.ts`. */
  list(name: string): string[] | undefined {
    const value = this.values[name]
    if (value === undefined || typeof value === 'boolean') return undefined
    const items = (Array.isArray(value) ? value : [value]).flatMap(splitList)
    if (items.length === 0) throw new UsageError(`--${name} needs at least one value`)
    return items
  }

  integer(name: string): number | undefined {
    const text = this.string(name)
    if (text === undefined) return undefined
    // Number('') is 0 and Number('1e3') is 1000: accept plain integers only, so a typo is an error.
    if (!/^[-+]?\d+$/.test(text.trim())) throw new UsageError(`--${name} must be an integer, got '${text}'`)
    return Number(text)
  }

  /** A duration such as `30s`, `5m` or milliseconds; returned as given once it parses. */
  duration(name: string): string | undefined {
    const text = this.string(name)
    if (text === undefined) return undefined
    try {
      parseDuration(text, `--${name}`)
    } catch {
      throw new UsageError(`--${name} must be a duration such as 500ms, 30s, 5m or a number of milliseconds, got '${text}'`)
    }
    return text
  }

  date(name: string): Date | undefined {
    const text = this.string(name)
    if (text === undefined) return undefined
    const date = new Date(text)
    if (Number.isNaN(date.getTime())) throw new UsageError(`--${name} must be an ISO date such as 2030-01-31T12:00:00Z, got '${text}'`)
    return date
  }

  json(name: string): unknown {
    const text = this.string(name)
    return text === undefined ? undefined : parseJson(text, `--${name}`)
  }
}

export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

/** Parses JSON from the command line; a syntax error is the user's, so it is a `UsageError`. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    // The usual cause is the shell eating the quotes: say how to keep them.
    throw new UsageError(`${what} is not valid JSON (${reason}); quote it for the shell, e.g. '{"name":"ada"}'`)
  }
}
