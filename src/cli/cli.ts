import { parseArgs } from 'node:util'
import { closest } from '../config.js'
import { DEFAULT_STORE } from '../offload.js'
import { isOffloadError, OffloadError } from '../errors.js'
import { packageVersion } from '../package-version.js'
import { parseCommandArgs, type OptionSpecs } from './args.js'
import { GLOBAL_OPTIONS, type Command } from './command.js'
import { breakersCommand } from './commands/breakers.js'
import { copyCommand } from './commands/copy.js'
import { devCommand } from './commands/dev.js'
import { enqueueCommand } from './commands/enqueue.js'
import { jobCommand } from './commands/job.js'
import { jobsCommand } from './commands/jobs.js'
import { migrateCommand } from './commands/migrate.js'
import { pauseCommand, queuesCommand, resumeCommand } from './commands/queues.js'
import { schedulesCommand } from './commands/schedules.js'
import { serveCommand } from './commands/serve.js'
import { cancelCommand, retryCommand } from './commands/steer.js'
import { workerCommand } from './commands/worker.js'
import { errorLine, EXIT_OK, EXIT_USAGE, exitCodeOf, UsageError } from './exit.js'
import { Output, type CliIo } from './output.js'

export const COMMANDS: readonly Command[] = [
  devCommand,
  workerCommand,
  serveCommand,
  enqueueCommand,
  jobsCommand,
  jobCommand,
  retryCommand,
  cancelCommand,
  queuesCommand,
  pauseCommand,
  resumeCommand,
  schedulesCommand,
  migrateCommand,
  copyCommand,
  breakersCommand,
]

/**
 * Runs `offload <argv…>` and resolves with the exit code; never throws. Errors become one line on
 * stderr — exit 2 for the caller's mistakes, 1 for everything else — so scripts can branch on the
 * code and people never see a stack trace (unless OFFLOAD_DEBUG=1 asks for one).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command | undefined
  try {
    const { name, rest } = splitCommand(argv)
    if (name === undefined || name === 'help') {
      const args = parseCommandArgs(rest, { ...GLOBAL_OPTIONS, version: { type: 'boolean', description: '' } }, 'offload')
      if (args.flag('version')) {
        io.stdout.write(version() + '\n')
        return EXIT_OK
      }
      const topic = args.positionals[0]
      if (name === 'help' && topic !== undefined) {
        io.stdout.write(commandHelp(findCommand(topic)))
        return EXIT_OK
      }
      if (name === undefined && !args.flag('help')) {
        // A bare `offload` is a question, not a command: the answer on stderr, and a usage exit.
        io.stderr.write(globalHelp())
        return EXIT_USAGE
      }
      io.stdout.write(globalHelp())
      return EXIT_OK
    }
    command = findCommand(name)
    const args = parseCommandArgs(rest, { ...command.options, ...GLOBAL_OPTIONS }, `offload ${command.name}`)
    if (args.flag('help')) {
      io.stdout.write(commandHelp(command))
      return EXIT_OK
    }
    const out = new Output(io, args.flag('json'))
    const { min, max } = command.positionals
    const names = command.usage.split(' ').slice(1)
    if (args.positionals.length < min) {
      throw new UsageError(`'offload ${command.name}' needs ${names.slice(args.positionals.length, min).join(' ')}; usage: offload ${command.usage}`)
    }
    if (args.positionals.length > max) {
      throw new UsageError(`unexpected argument '${args.positionals[max]}' for 'offload ${command.name}'; usage: offload ${command.usage}`)
    }
    const storeUrl = args.string('store') ?? io.env.OFFLOAD_STORE ?? DEFAULT_STORE
    return await command.run({ args, out, io, storeUrl })
  } catch (error) {
    const shown = command?.flags === undefined ? error : renameOption(error, command.flags)
    io.stderr.write(errorLine(shown) + '\n')
    if (io.env.OFFLOAD_DEBUG && error instanceof Error && error.stack) io.stderr.write(error.stack + '\n')
    return exitCodeOf(error)
  }
}

/**
 * Finds the command word, which may follow global options (`offload --store x jobs`). Tokenising
 * with every command's options known keeps an option's value from being taken for the command.
 */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const every: OptionSpecs = { ...GLOBAL_OPTIONS }
  for (const command of COMMANDS) Object.assign(every, command.options)
  const { tokens } = parseArgs({ args: [...argv], options: every, strict: false, allowPositionals: true, tokens: true })
  const first = tokens.find((token) => token.kind === 'positional' || token.kind === 'option-terminator')
  if (first === undefined || first.kind !== 'positional') return { name: undefined, rest: [...argv] }
  return { name: first.value, rest: argv.filter((_, index) => index !== first.index) }
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((candidate) => candidate.name === name)
  if (command !== undefined) return command
  const suggestion = closest(name, COMMANDS.map((candidate) => candidate.name))
  throw new UsageError(`unknown command '${name}'` + (suggestion !== undefined ? `, did you mean '${suggestion}'?` : `; run 'offload --help' for the list`))
}

/** Names the flag the user typed in a core validation message: "leaseDuration must …" → "--lease must …". */
function renameOption(error: unknown, flags: Record<string, string>): unknown {
  if (!isOffloadError(error)) return error
  const option = error.details.option
  const flag = typeof option === 'string' ? flags[option] : undefined
  if (flag === undefined || !error.message.startsWith(option as string)) return error
  return new OffloadError(error.code, flag + error.message.slice((option as string).length), error.details, { cause: error })
}

export function version(): string {
  return packageVersion()
}

function optionLines(options: OptionSpecs): string[] {
  const entries = Object.entries(options).filter(([, spec]) => spec.description !== '')
  const left = entries.map(([name, spec]) => `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`)
  const width = Math.max(...left.map((text) => text.length))
  return entries.map(([, spec], index) => {
    const extra = [spec.multiple ? 'repeatable' : '', spec.defaultText ? `default: ${spec.defaultText}` : ''].filter(Boolean).join('; ')
    return `  ${left[index]!.padEnd(width)}  ${spec.description}${extra ? ` (${extra})` : ''}`
  })
}

export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length))
  return [
    `offload ${version()}: durable background jobs`,
    '',
    'Usage: offload <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`),
    '',
    'Global options (every command):',
    ...optionLines(GLOBAL_OPTIONS),
    '  --version      print the version',
    '',
    'Examples:',
    '  offload dev --tasks examples/tasks.ts',
    `  offload enqueue email.send '{"to":"ada@example.com"}' --tasks examples/tasks.ts`,
    '  offload jobs --state failed',
    '  offload job <id>',
    '',
    'Environment: OFFLOAD_STORE (the store URL), OFFLOAD_TASKS (task modules, comma-separated),',
    '             OFFLOAD_API_TOKENS (HTTP API tokens, scope:token,…), OFFLOAD_DEBUG=1 (print stack traces),',
    '             NO_COLOR (no colours)',
    'Exit codes:  0 ok, 1 failure, 2 bad input (unknown command or option, invalid value, no such job)',
    "Run 'offload <command> --help' for a command's options; docs/cli.md has the whole story.",
    '',
  ].join('\n')
}

export function commandHelp(command: Command): string {
  return [
    `offload ${command.name}: ${command.summary}`,
    '',
    `Usage: offload ${command.usage} [options]`,
    '',
    command.description,
    '',
    ...(Object.keys(command.options).length > 0 ? ['Options:', ...optionLines(command.options), ''] : []),
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Examples:',
    ...command.examples.map((example) => `  ${example}`),
    '',
  ].join('\n')
}
