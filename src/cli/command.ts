import { createOffload, type Offload } from '../offload.js'
import { openStore } from '../store/open-store.js'
import type { ScheduleOptions } from '../schedules/schedule-options.js'
import type { Store } from '../store/store.js'
import type { TaskDefinition } from '../task.js'
import type { Args, OptionSpecs } from './args.js'
import type { CliIo, Output } from './output.js'

/** What a command gets: its parsed arguments, where to print, and the resolved store URL. */
export interface CommandContext {
  args: Args
  out: Output
  io: CliIo
  /** `--store`, else `OFFLOAD_STORE`, else the default. */
  storeUrl: string
}

/** One `offload <command>`: its help (generated from these fields) and what it does. */
export interface Command {
  name: string
  /** The synopsis after `offload`, e.g. `enqueue <task> [json]`. */
  usage: string
  /** One line for the command list. */
  summary: string
  /** A paragraph or two for `offload <command> --help`. */
  description: string
  options: OptionSpecs
  /** Positional arguments: at least `min`, at most `max`. */
  positionals: { min: number; max: number }
  /**
   * The core's option names mapped to this command's flags, so that a core validation message
   * ("leaseDuration must be at least 1s") names what the user typed ("--lease must be at least 1s").
   */
  flags?: Record<string, string>
  examples: readonly string[]
  /** Resolves with the exit code. Throws for errors; the caller turns them into one line and a code. */
  run(ctx: CommandContext): Promise<number>
}

export const GLOBAL_OPTIONS: OptionSpecs = {
  store: {
    type: 'string',
    value: '<url>',
    description: 'where jobs live: sqlite:<path>, sqlite::memory:, or postgres://user@host/db[?schema=name]',
    defaultText: '$OFFLOAD_STORE, else sqlite:./data/offload.db',
  },
  json: { type: 'boolean', description: 'machine output on stdout (one JSON document; JSON Lines for dev and worker)' },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
}

export const TASKS_OPTION: OptionSpecs = {
  tasks: {
    type: 'string',
    multiple: true,
    value: '<path>',
    description: 'a module exporting task definitions; several may be comma-separated',
    defaultText: '$OFFLOAD_TASKS',
  },
}

/**
 * Opens the store and an Offload instance on it, runs `fn`, and closes both however `fn` ends.
 * The CLI opens the store itself, rather than handing Offload the URL, so that it stays open
 * after `offload.close()`: `dev` reads the last events (jobs released on shutdown) before it goes.
 */
export async function withOffload<T>(
  storeUrl: string,
  options: { tasks?: readonly TaskDefinition<any, any>[]; migrate?: boolean; schedules?: Record<string, ScheduleOptions> },
  fn: (offload: Offload, store: Store) => Promise<T>,
): Promise<T> {
  const store = openStore(storeUrl)
  let offload: Offload | undefined
  try {
    offload = createOffload({ store, tasks: options.tasks ?? [], migrate: options.migrate ?? true, schedules: options.schedules ?? {} })
    return await fn(offload, store)
  } finally {
    await offload?.close()
    await store.close()
  }
}
