import { JOB_STATES, type JobInfo, type JobState } from '../../job.js'
import type { ListJobsOptions } from '../../offload.js'
import { withOffload, type Command } from '../command.js'
import { UsageError } from '../exit.js'
import { dateTime, oneLine, paintState, table } from '../format.js'
import type { Output } from '../output.js'

export const jobsCommand: Command = {
  name: 'jobs',
  usage: 'jobs',
  summary: 'list jobs, newest first, or count them',
  description:
    'Lists jobs newest first, filtered by state, queue and task, a page at a time: when more\n' +
    'remain it prints the command for the next page. --counts prints the number of jobs per queue\n' +
    'and state instead.',
  options: {
    state: { type: 'string', value: '<states>', description: `only these states, comma-separated: ${JOB_STATES.join(', ')}` },
    queue: { type: 'string', value: '<name>', description: 'only this queue' },
    task: { type: 'string', value: '<name>', description: 'only this task' },
    limit: { type: 'string', value: '<n>', description: 'jobs per page, at most 1000', defaultText: '50' },
    cursor: { type: 'string', value: '<cursor>', description: 'the next page, as printed by the previous one' },
    counts: { type: 'boolean', description: 'count jobs per queue and state instead of listing them' },
  },
  positionals: { min: 0, max: 0 },
  flags: { limit: '--limit', cursor: '--cursor' },
  examples: [
    'offload jobs',
    'offload jobs --state failed,cancelled --queue emails',
    'offload jobs --task image.resize --limit 20 --json',
    'offload jobs --counts',
  ],
  async run({ args, out, storeUrl }) {
    const options: ListJobsOptions = {}
    const states = args.list('state') as JobState[] | undefined
    if (states !== undefined) options.state = states
    const queue = args.string('queue')
    if (queue !== undefined) options.queue = queue
    const task = args.string('task')
    if (task !== undefined) options.task = task
    const limit = args.integer('limit')
    if (limit !== undefined) options.limit = limit
    const cursor = args.string('cursor')
    if (cursor !== undefined) options.cursor = cursor
    const counting = args.flag('counts')
    if (counting && Object.keys(options).length > 0) throw new UsageError('--counts counts every job; it takes no filters')

    return withOffload(storeUrl, {}, async (offload) => {
      if (counting) {
        const counts = await offload.countJobs()
        const total = counts.reduce((sum, count) => sum + count.count, 0)
        if (out.json) out.data({ counts, total })
        else printCounts(out, counts, total)
        return 0
      }
      const page = await offload.listJobs(options)
      if (out.json) {
        out.data(page.nextCursor === undefined ? { jobs: page.jobs } : { jobs: page.jobs, nextCursor: page.nextCursor })
        return 0
      }
      if (page.jobs.length === 0) {
        out.line(cursor === undefined ? 'no jobs' + (states || queue || task ? ' match' : ' yet') : 'no more jobs')
        return 0
      }
      for (const line of table(['ID', 'TASK', 'QUEUE', 'STATE', 'ATTEMPT', 'CREATED', 'FINISHED', 'ERROR'], page.jobs.map((job) => row(out, job)), out)) {
        out.line(line)
      }
      out.line()
      if (page.nextCursor !== undefined) {
        const filters = [
          states ? `--state ${states.join(',')}` : '',
          queue ? `--queue ${queue}` : '',
          task ? `--task ${task}` : '',
          limit ? `--limit ${limit}` : '',
        ].filter(Boolean)
        out.line(`${page.jobs.length} jobs shown; next page: offload jobs ${[...filters, `--cursor ${page.nextCursor}`].join(' ')}`)
      } else out.line(`${page.jobs.length} job${page.jobs.length === 1 ? '' : 's'}`)
      return 0
    })
  },
}

function row(out: Output, job: JobInfo): string[] {
  const last = job.errors[job.errors.length - 1]
  return [
    job.id,
    job.task,
    job.queue,
    paintState(out, job.state),
    `${job.attempt}/${job.maxAttempts}`,
    dateTime(job.createdAt),
    job.finishedAt ? dateTime(job.finishedAt) : '-',
    last === undefined || job.state === 'completed' ? '' : oneLine(last.message, 60),
  ]
}

function printCounts(out: Output, counts: { queue: string; state: JobState; count: number }[], total: number): void {
  if (total === 0) {
    out.line('no jobs')
    return
  }
  const queues = [...new Set(counts.map((count) => count.queue))].sort()
  const rows = queues.map((queue) => {
    const of = (state: JobState): number => counts.find((count) => count.queue === queue && count.state === state)?.count ?? 0
    const cells = JOB_STATES.map((state) => (of(state) === 0 ? '-' : paintState(out, state, String(of(state)))))
    return [queue, ...cells, String(JOB_STATES.reduce((sum, state) => sum + of(state), 0))]
  })
  for (const line of table(['QUEUE', ...JOB_STATES.map((state) => state.toUpperCase()), 'TOTAL'], rows, out)) out.line(line)
  out.line()
  out.line(`${total} job${total === 1 ? '' : 's'}`)
}
