import type { JobInfo } from '../../job.js'
import type { Offload } from '../../offload.js'
import { withOffload, type Command, type CommandContext } from '../command.js'
import { paintState } from '../format.js'

/** `retry` and `cancel` differ only in the operation and the words around it. */
function steer(ctx: CommandContext, operate: (offload: Offload, id: string) => Promise<JobInfo>, done: (job: JobInfo) => string): Promise<number> {
  const id = ctx.args.positionals[0]!
  return withOffload(ctx.storeUrl, {}, async (offload) => {
    const job = await operate(offload, id)
    if (ctx.out.json) ctx.out.data({ job })
    else ctx.out.line(done(job))
    return 0
  })
}

export const retryCommand: Command = {
  name: 'retry',
  usage: 'retry <id>',
  summary: 'put a failed or cancelled job back in its queue',
  description:
    'Moves a failed or cancelled job back to queued with a fresh set of attempts; its earlier\n' +
    'errors and events stay. Fails (exit 2) for a job in any other state, or whose idempotency\n' +
    'key another unfinished job now holds.',
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['offload retry 0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d', 'offload jobs --state failed --json | jq -r ".jobs[].id" | xargs -n1 offload retry'],
  run: (ctx) =>
    steer(
      ctx,
      (offload, id) => offload.retryJob(id),
      (job) => `job ${job.id} (${job.task}) is ${paintState(ctx.out, job.state)} again on '${job.queue}', with ${job.maxAttempts} fresh attempt${job.maxAttempts === 1 ? '' : 's'}`,
    ),
}

export const cancelCommand: Command = {
  name: 'cancel',
  usage: 'cancel <id>',
  summary: 'cancel a job that has not finished',
  description:
    'Cancels a scheduled, queued, retrying or running job. A running job\'s handler sees its\n' +
    'signal abort, in whichever process runs it. Fails (exit 2) for a job that already finished.',
  options: {},
  positionals: { min: 1, max: 1 },
  examples: ['offload cancel 0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d'],
  run: (ctx) =>
    steer(
      ctx,
      (offload, id) => offload.cancelJob(id),
      (job) => `job ${job.id} (${job.task}) is ${paintState(ctx.out, job.state)}` + (job.attempt > 0 ? ` after ${job.attempt} attempt${job.attempt === 1 ? '' : 's'}` : ''),
    ),
}
