import { existsSync } from 'node:fs'
import { extname, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isOffloadError, OffloadError } from '../errors.js'
import type { Offload } from '../offload.js'
import type { ScheduleOptions } from '../schedules/schedule-options.js'
import { isTaskDefinition, type TaskDefinition } from '../task.js'
import { splitList, type Args } from './args.js'
import { CliFailure, UsageError } from './exit.js'

/**
 * The optional `seed` export of a task module: `offload dev` calls it once its worker runs, so a
 * demo (or a developer's fixture) can enqueue some jobs. `log` prints a line in dev's output.
 */
export type SeedFunction = (offload: Offload, log: (message: string) => void) => unknown

export interface TaskModules {
  /** The module paths as the user gave them. */
  files: string[]
  tasks: TaskDefinition<any, any>[]
  seeds: { file: string; seed: SeedFunction }[]
  /** The cron schedules the modules declare (a `schedules` export, by name), for the worker to write. */
  schedules: Record<string, ScheduleOptions>
}

/** `--tasks` (repeatable, comma-separated), else `OFFLOAD_TASKS` (comma-separated). */
export function taskPaths(args: Args, env: NodeJS.ProcessEnv): string[] {
  return args.list('tasks') ?? splitList(env.OFFLOAD_TASKS ?? '')
}

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx'])
let tsxRegistered: Promise<void> | undefined

/**
 * Imports each task module and collects every export that is a task definition, or an array of
 * them, any `seed` function, and any `schedules` object (cron schedules by name). A definition exported twice (re-exported, or also in an array)
 * counts once.
 */
export async function loadTaskModules(paths: readonly string[], cwd: string): Promise<TaskModules> {
  if (paths.length === 0) {
    throw new UsageError('no task modules: pass --tasks <path> (a module exporting defineTask() definitions) or set OFFLOAD_TASKS')
  }
  const tasks = new Set<TaskDefinition<any, any>>()
  const seeds: TaskModules['seeds'] = []
  const schedules: Record<string, ScheduleOptions> = {}
  for (const path of paths) {
    const absolute = resolve(cwd, path)
    if (!existsSync(absolute)) throw new UsageError(`cannot find task module '${path}' (looked for ${absolute})`)
    if (TYPESCRIPT.has(extname(absolute))) await registerTsx(path)
    let module: Record<string, unknown>
    try {
      module = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>
    } catch (error) {
      // Keep the code of an OffloadError (a bad task name in defineTask is the user's input, exit 2);
      // anything else is a broken module (exit 1). Either way, say which module.
      const message = `cannot load task module '${path}': ${error instanceof Error ? error.message : String(error)}`
      if (isOffloadError(error)) throw new OffloadError(error.code, message, error.details, { cause: error })
      throw new CliFailure(message, { cause: error })
    }
    let found = 0
    for (const [name, value] of Object.entries(module)) {
      if (isTaskDefinition(value)) {
        tasks.add(value)
        found++
      } else if (Array.isArray(value) && value.length > 0 && value.every(isTaskDefinition)) {
        for (const definition of value) tasks.add(definition)
        found++
      } else if (name === 'seed' && typeof value === 'function') {
        seeds.push({ file: path, seed: value as SeedFunction })
      } else if (name === 'schedules' && typeof value === 'object' && value !== null) {
        // Checked by createOffload, as any declared schedules are.
        Object.assign(schedules, value)
      }
    }
    if (found === 0) {
      const shown = relative(cwd, absolute) || path
      throw new UsageError(`task module '${shown}' exports no task definitions: export the results of defineTask()`)
    }
  }
  // Namespace objects list exports alphabetically by export name; order by task name instead.
  return { files: [...paths], tasks: [...tasks].sort((a, b) => a.name.localeCompare(b.name)), seeds, schedules }
}

/**
 * TypeScript task modules load through tsx, an optional peer dependency: registered once, only
 * when such a module is named, so JavaScript users never pay for (or need) it.
 */
function registerTsx(path: string): Promise<void> {
  tsxRegistered ??= (async () => {
    let api: typeof import('tsx/esm/api')
    try {
      api = await import('tsx/esm/api')
    } catch {
      throw new CliFailure(`task module '${path}' is TypeScript, which needs tsx: run 'npm install --save-dev tsx', or compile it to JavaScript`)
    }
    api.register()
  })()
  return tsxRegistered
}
