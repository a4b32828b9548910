import { formatDuration, parseDuration } from '../../duration.js'
import type { Offload, WorkOptions } from '../../offload.js'
import type { TaskDefinition } from '../../task.js'
import { WEBHOOK_QUEUE } from '../../webhooks/delivery.js'
import type { Worker } from '../../worker/worker.js'
import type { Args, OptionSpecs } from '../args.js'
import { TASKS_OPTION, withOffload, type Command } from '../command.js'
import type { Output } from '../output.js'
import { loadTaskModules, taskPaths } from '../task-modules.js'

export const CONCURRENCY_OPTIONS: OptionSpecs = {
  concurrency: { type: 'string', value: '<n>', description: 'jobs run at once', defaultText: '10' },
  queues: { type: 'string', value: '<names>', description: 'queues to claim from, comma-separated', defaultText: "every queue of the tasks" },
}

/** Flags of `worker` and `dev`, and the core options they set, for messages. */
export const WORK_FLAGS: Record<string, string> = {
  concurrency: '--concurrency',
  leaseDuration: '--lease',
  shutdownGrace: '--shutdown-grace',
  pollInterval: '--poll-interval',
}

/** `WorkOptions` from the flags of `worker` and `dev`; the core validates ranges when the worker starts. */
export function workOptions(args: Args): WorkOptions {
  const options: WorkOptions = { handleSignals: true }
  const concurrency = args.integer('concurrency')
  if (concurrency !== undefined) options.concurrency = concurrency
  const queues = args.list('queues')
  if (queues !== undefined) options.queues = queues
  const lease = args.duration('lease')
  if (lease !== undefined) options.leaseDuration = lease
  const grace = args.duration('shutdown-grace')
  if (grace !== undefined) options.shutdownGrace = grace
  const poll = args.duration('poll-interval')
  if (poll !== undefined) options.pollInterval = poll
  return options
}

/** The queues a worker started with `options` claims from: named ones, or the tasks' and the webhook deliveries'. */
export function queuesOf(options: WorkOptions, tasks: readonly TaskDefinition<any, any>[]): string[] {
  return options.queues !== undefined ? [...options.queues] : [...new Set(tasks.map((task) => task.queue)), WEBHOOK_QUEUE].sort()
}

/**
 * Says what happens on Ctrl-C. Offload's own signal handling (`handleSignals: true`) does the
 * stopping — first signal gracefully, second at once — and this only tells the person watching.
 */
export function announceSignals(worker: Worker, out: Output, graceText: string): () => void {
  let count = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    count++
    const running = worker.running
    const say = (text: string): void => (out.json ? out.note(`offload: ${text}`) : out.line(out.yellow(text)))
    if (count === 1) {
      say(
        `${signal}: stopping` +
          (running > 0 ? `; waiting up to ${graceText} for ${running} running job${running === 1 ? '' : 's'} (again to stop now)` : ''),
      )
    } else if (count === 2) say(`${signal}: stopping now; running jobs go back to their queue`)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** Runs a worker until a signal stops it, then returns once the Offload instance is closed. */
export async function runUntilStopped(offload: Offload, options: WorkOptions, out: Output, whileRunning?: (worker: Worker) => Promise<void>): Promise<Worker> {
  const worker = await offload.work(options)
  const quiet = announceSignals(worker, out, formatDuration(parseDuration(options.shutdownGrace ?? '10s', 'shutdownGrace')))
  try {
    await whileRunning?.(worker)
    await worker.done
    await offload.close()
  } finally {
    quiet()
  }
  return worker
}

export const workerCommand: Command = {
  name: 'worker',
  usage: 'worker',
  summary: 'run a worker until SIGINT or SIGTERM',
  description:
    "Runs the --tasks modules' jobs from their queues. On SIGINT or SIGTERM it stops claiming,\n" +
    'lets running jobs finish within --shutdown-grace, then aborts the rest through their signal\n' +
    'and hands them back to the queue without spending an attempt; a second signal skips the\n' +
    'wait. Run as many workers as you like against one store; one of them does maintenance.',
  options: {
    ...TASKS_OPTION,
    ...CONCURRENCY_OPTIONS,
    lease: { type: 'string', value: '<duration>', description: "how long a claim holds without a heartbeat; a dead worker's jobs run again after it", defaultText: '15s' },
    'shutdown-grace': { type: 'string', value: '<duration>', description: 'on stop, how long running jobs may take before they are aborted', defaultText: '10s' },
    'poll-interval': { type: 'string', value: '<duration>', description: 'the fallback poll when no wake-up note arrives', defaultText: '1s' },
  },
  positionals: { min: 0, max: 0 },
  flags: WORK_FLAGS,
  examples: [
    'offload worker --tasks dist/tasks.js',
    'OFFLOAD_TASKS=dist/tasks.js offload worker --queues images,emails --concurrency 50',
    'offload worker --tasks src/tasks.ts --shutdown-grace 30s --json',
  ],
  async run({ args, out, io, storeUrl }) {
    const options = workOptions(args)
    const modules = await loadTaskModules(taskPaths(args, io.env), io.cwd)
    return withOffload(storeUrl, { tasks: modules.tasks, schedules: modules.schedules }, async (offload, store) => {
      const started = Date.now()
      const queues = queuesOf(options, modules.tasks)
      const concurrency = options.concurrency ?? 10
      const worker = await runUntilStopped(offload, options, out, async (worker) => {
        if (out.json) {
          out.record({ type: 'ready', workerId: worker.id, store: store.description, tasks: modules.tasks.map((task) => task.name), queues, concurrency })
        } else {
          out.line(`worker ${worker.id} started on ${store.description}: queues ${queues.join(', ')}, concurrency ${concurrency}; Ctrl-C to stop`)
        }
      })
      if (out.json) out.record({ type: 'stopped', workerId: worker.id })
      else out.line(`worker ${worker.id} stopped after ${formatDuration(Date.now() - started)}`)
      return 0
    })
  },
}
