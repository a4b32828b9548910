import { closest } from '../../config.js'
import { formatDuration } from '../../duration.js'
import { JOB_STATES } from '../../job.js'
import type { QueueInfo } from '../../store/store.js'
import { withOffload, type Command, type CommandContext } from '../command.js'
import { paintState, table } from '../format.js'

export const queuesCommand: Command = {
  name: 'queues',
  usage: 'queues',
  summary: 'list queues with their job counts, paused or not',
  description:
    'Lists every queue that holds jobs or was ever paused: whether it is paused, its jobs per\n' +
    'state, and how long the oldest queued job has waited. The counts are the ones the store keeps\n' +
    'as it writes, so this is quick however many jobs there are.',
  options: {},
  positionals: { min: 0, max: 0 },
  examples: ['offload queues', 'offload queues --json | jq ".queues[] | select(.paused)"'],
  run: ({ out, storeUrl }) =>
    withOffload(storeUrl, {}, async (offload) => {
      const queues = await offload.listQueues()
      if (out.json) {
        out.data({ queues })
        return 0
      }
      if (queues.length === 0) {
        out.line('no queues yet')
        return 0
      }
      const now = Date.now()
      const rows = queues.map((info) => [
        info.queue,
        info.paused ? out.bold('paused') : 'active',
        ...JOB_STATES.map((state) => (info.counts[state] === 0 ? '-' : paintState(out, state, String(info.counts[state])))),
        info.oldestQueuedAt === undefined ? '-' : formatDuration(Math.max(0, now - info.oldestQueuedAt.getTime())),
      ])
      for (const line of table(['QUEUE', 'STATUS', ...JOB_STATES.map((state) => state.toUpperCase()), 'OLDEST QUEUED'], rows, out)) out.line(line)
      out.line()
      const paused = queues.filter((info) => info.paused).length
      out.line(`${queues.length} queue${queues.length === 1 ? '' : 's'}${paused > 0 ? `, ${paused} paused` : ''}`)
      return 0
    }),
}

/** `pause` and `resume` differ only in the operation and the words around it. */
function switchQueue(ctx: CommandContext, paused: boolean): Promise<number> {
  const queue = ctx.args.positionals[0]!
  return withOffload(ctx.storeUrl, {}, async (offload) => {
    const before = await offload.listQueues()
    const info = before.find((known) => known.queue === queue)
    await (paused ? offload.pauseQueue(queue) : offload.resumeQueue(queue))
    if (ctx.out.json) {
      ctx.out.data({ queue, paused, changed: (info?.paused ?? false) !== paused })
      return 0
    }
    ctx.out.line(paused ? pausedLine(queue, info, before) : resumedLine(queue, info))
    return 0
  })
}

function pausedLine(queue: string, info: QueueInfo | undefined, queues: readonly QueueInfo[]): string {
  if (info?.paused) return `queue '${queue}' was already paused`
  const line = `queue '${queue}' is paused: no worker takes its jobs until 'offload resume ${queue}'; running jobs finish, enqueues still go in`
  if (info !== undefined) return `${line} (${info.counts.queued} queued)`
  // Pausing an empty queue is allowed (ahead of a deploy, say), but it may be a typo.
  const suggestion = closest(queue, queues.map((known) => known.queue))
  return `${line} (it holds no jobs yet${suggestion === undefined ? '' : `; did you mean '${suggestion}'?`})`
}

function resumedLine(queue: string, info: QueueInfo | undefined): string {
  if (!info?.paused) return `queue '${queue}' was not paused`
  return `queue '${queue}' is resumed: workers take its ${info.counts.queued} queued job${info.counts.queued === 1 ? '' : 's'} again`
}

export const pauseCommand: Command = {
  name: 'pause',
  usage: 'pause <queue>',
  summary: 'stop workers everywhere from taking jobs of a queue',
  description:
    'Pauses a queue in every process sharing the store: no worker claims its jobs until it is\n' +
    'resumed. Jobs already running finish; enqueues are still accepted. Pausing a paused queue\n' +
    'changes nothing.',
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['offload pause emails', 'offload pause emails --json'],
  run: (ctx) => switchQueue(ctx, true),
}

export const resumeCommand: Command = {
  name: 'resume',
  usage: 'resume <queue>',
  summary: 'let workers take jobs of a paused queue again',
  description: 'Resumes a paused queue: idle workers, in every process, wake and claim its jobs at once.\nResuming a queue that is not paused changes nothing.',
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['offload resume emails'],
  run: (ctx) => switchQueue(ctx, false),
}
