import { formatDuration } from '../../duration.js'
import { OffloadError } from '../../errors.js'
import type { JobEvent, JobInfo } from '../../job.js'
import { withOffload, type Command } from '../command.js'
import { attemptText, clockTime, dateTime, eventDetail, paintState } from '../format.js'
import type { Output } from '../output.js'

export const jobCommand: Command = {
  name: 'job',
  usage: 'job <id>',
  summary: 'show one job and its event timeline',
  description:
    "Prints a job's state, attempts, times, payload, result, progress and each failed attempt's\n" +
    'error, then its event log: every transition, progress report and log line, oldest first.',
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['offload job 0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d', 'offload job 0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d --json | jq .job.state'],
  async run({ args, out, storeUrl }) {
    const id = args.positionals[0]!
    return withOffload(storeUrl, {}, async (offload) => {
      const job = await offload.getJob(id)
      if (job === undefined) throw new OffloadError('JOB_NOT_FOUND', `no job with id ${id}`, { id })
      const events = await offload.jobEvents(id)
      if (out.json) out.data({ job, events })
      else printJob(out, job, events)
      return 0
    })
  },
}

function printJob(out: Output, job: JobInfo, events: JobEvent[]): void {
  const fields: [string, string][] = [
    ['state', `${paintState(out, job.state)} (${attemptText(job.attempt, job.maxAttempts)})`],
    ['queue', job.queue],
    ['priority', String(job.priority)],
    ['created', dateTime(job.createdAt)],
    ['run at', dateTime(job.runAt)],
  ]
  if (job.startedAt) fields.push(['started', dateTime(job.startedAt)])
  if (job.finishedAt) {
    const took = job.startedAt ? ` (last attempt took ${formatDuration(job.finishedAt.getTime() - job.startedAt.getTime())})` : ''
    fields.push(['finished', dateTime(job.finishedAt) + took])
  }
  if (job.key !== undefined) fields.push(['key', job.key])
  if (job.timeoutMs !== undefined) fields.push(['timeout', formatDuration(job.timeoutMs)])
  if (job.workerId !== undefined) fields.push(['worker', job.workerId + (job.leaseExpiresAt ? `, lease until ${dateTime(job.leaseExpiresAt)}` : '')])
  if (job.progress !== undefined) fields.push(['progress', typeof job.progress === 'number' ? `${job.progress}%` : JSON.stringify(job.progress)])
  fields.push(['payload', json(job.payload)])
  if (Object.keys(job.metadata).length > 0) fields.push(['metadata', json(job.metadata)])
  if (job.state === 'completed') fields.push(['result', json(job.result ?? null)])

  out.line(`${out.bold(`job ${job.id}`)}  ${job.task}`)
  const width = Math.max(...fields.map(([name]) => name.length))
  for (const [name, value] of fields) {
    // Multi-line JSON lines up under its first line.
    out.line(`  ${name.padEnd(width)}  ${value.replace(/\n/g, '\n  ' + ' '.repeat(width + 2))}`)
  }
  if (job.errors.length > 0) {
    out.line()
    out.line(out.bold('errors'))
    for (const error of job.errors) {
      out.line(`  attempt ${error.attempt}  ${dateTime(error.at)}  ${out.red(`${error.name}: ${error.message}`)}`)
    }
  }
  out.line()
  out.line(out.bold('timeline'))
  if (events.length === 0) out.line('  (no events: pruned)')
  const typeWidth = Math.max(...events.map((event) => event.type.length))
  let startedAt: Date | undefined
  for (const event of events) {
    if (event.type === 'started') startedAt = event.at
    out.line(`  ${out.dim(clockTime(event.at))}  ${paintState(out, event.type, event.type.padEnd(typeWidth))}  ${eventDetail(event, job, out, { startedAt })}`)
  }
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null'
}
