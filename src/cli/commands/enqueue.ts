import { formatDuration } from '../../duration.js'
import { isOffloadError } from '../../errors.js'
import type { EnqueueOptions, JobInfo } from '../../job.js'
import { parseJson } from '../args.js'
import { TASKS_OPTION, withOffload, type Command } from '../command.js'
import { CliFailure, UsageError } from '../exit.js'
import { attemptText, paintState } from '../format.js'
import { loadTaskModules, taskPaths } from '../task-modules.js'

export const enqueueCommand: Command = {
  name: 'enqueue',
  usage: 'enqueue <task> [json|-]',
  summary: 'enqueue one job of a task',
  description:
    'Creates a job of <task>, a task defined in the --tasks modules, with the JSON payload given\n' +
    "as the second argument, or read from stdin when it is '-' (none means null). Prints the job's\n" +
    'id and state; with an idempotency --key already held, says so and prints the existing job.\n' +
    'With --wait, waits for the job to finish and prints its result; exits 1 if it failed or was\n' +
    'cancelled.',
  options: {
    ...TASKS_OPTION,
    delay: { type: 'string', value: '<duration>', description: 'run no earlier than this long from now: 500ms, 30s, 5m, 1h' },
    'run-at': { type: 'string', value: '<iso-date>', description: 'run no earlier than this time, e.g. 2030-01-31T09:00:00Z' },
    priority: { type: 'string', value: '<int>', description: 'higher runs first within the queue', defaultText: "the task's, else 0" },
    attempts: { type: 'string', value: '<int>', description: 'total attempts, the first run included', defaultText: "the task's, else 5" },
    key: { type: 'string', value: '<key>', description: 'idempotency key: while a job holding it is unfinished, no second job is made' },
    'key-ttl': { type: 'string', value: '<duration>', description: 'keep the key held this long after the job finished', defaultText: "the task's, else 0" },
    queue: { type: 'string', value: '<name>', description: "put the job on this queue instead of the task's" },
    timeout: { type: 'string', value: '<duration>', description: 'abort an attempt that runs longer than this', defaultText: "the task's, else none" },
    metadata: { type: 'string', value: '<json>', description: 'a JSON object stored with the job' },
    wait: { type: 'boolean', description: 'wait for the job to finish and print its result (exit 1 if it failed)' },
    'wait-timeout': { type: 'string', value: '<duration>', description: 'with --wait, give up after this long (exit 1)', defaultText: 'wait indefinitely' },
  },
  positionals: { min: 1, max: 2 },
  flags: {
    delay: '--delay',
    runAt: '--run-at',
    priority: '--priority',
    attempts: '--attempts',
    key: '--key',
    keyTtl: '--key-ttl',
    timeout: '--timeout',
    metadata: '--metadata',
  },
  examples: [
    `offload enqueue email.send '{"to":"ada@example.com"}' --tasks examples/tasks.ts`,
    `echo '{"url":"https://example.com/a.png","width":200}' | offload enqueue image.resize - --delay 5s`,
    `offload enqueue email.send '{"to":"ada@example.com"}' --key welcome:ada --wait --wait-timeout 30s --json`,
  ],
  async run({ args, out, io, storeUrl }) {
    const [task, payloadText] = args.positionals as [string, string | undefined]
    const options: EnqueueOptions = {}
    const delay = args.duration('delay')
    if (delay !== undefined) options.delay = delay
    const runAt = args.date('run-at')
    if (runAt !== undefined) options.runAt = runAt
    const priority = args.integer('priority')
    if (priority !== undefined) options.priority = priority
    const attempts = args.integer('attempts')
    if (attempts !== undefined) options.attempts = attempts
    const key = args.string('key')
    if (key !== undefined) options.key = key
    const keyTtl = args.duration('key-ttl')
    if (keyTtl !== undefined) options.keyTtl = keyTtl
    const queue = args.string('queue')
    if (queue !== undefined) options.queue = queue
    const timeout = args.duration('timeout')
    if (timeout !== undefined) options.timeout = timeout
    const metadata = args.json('metadata')
    if (metadata !== undefined) options.metadata = metadata as EnqueueOptions['metadata']
    const wait = args.flag('wait')
    const waitTimeout = args.duration('wait-timeout')
    if (waitTimeout !== undefined && !wait) throw new UsageError('--wait-timeout only applies with --wait')

    let payload: unknown
    if (payloadText === '-') {
      if (io.stdin.isTTY) out.note('reading the payload JSON from stdin; end it with Ctrl-D')
      payload = parseJson(await readAll(io.stdin), 'the payload from stdin')
    } else if (payloadText !== undefined) payload = parseJson(payloadText, 'the payload')

    const modules = await loadTaskModules(taskPaths(args, io.env), io.cwd)
    return withOffload(storeUrl, { tasks: modules.tasks }, async (offload) => {
      const handle = await offload.enqueue(task, payload, options)
      const taskQueue = options.queue ?? offload.tasks.get(task)?.queue
      if (!out.json) {
        if (handle.existing) {
          out.line(`key '${key}' is held by job ${handle.id} (${task}, ${paintState(out, handle.state)}): returned it, no new job was made`)
        } else {
          out.line(`enqueued job ${handle.id} (${task} on '${taskQueue}'): ${paintState(out, handle.state)}`)
        }
      }
      const summary = { id: handle.id, task, queue: taskQueue, state: handle.state, existing: handle.existing }
      if (!wait) {
        if (out.json) out.data(summary)
        return 0
      }

      if (!out.json && io.stderr.isTTY) out.note(out.dim('waiting for the job to finish (Ctrl-C stops waiting, not the job) …'))
      let failure: unknown
      try {
        await handle.result(waitTimeout === undefined ? {} : { timeout: waitTimeout })
      } catch (error) {
        // A job that failed or was cancelled is an outcome to report; anything else (a timeout,
        // the store gone) is an error of this command.
        if (!isOffloadError(error, 'JOB_FAILED') && !isOffloadError(error, 'JOB_CANCELLED')) throw error
        failure = error
      }
      const job = (await offload.getJob(handle.id)) as JobInfo
      const last = job.errors[job.errors.length - 1]
      if (out.json) {
        out.data({
          ...summary,
          state: job.state,
          attempt: job.attempt,
          ...(job.state === 'completed' ? { result: job.result ?? null } : {}),
          ...(last !== undefined && job.state === 'failed' ? { error: { name: last.name, message: last.message } } : {}),
        })
      } else if (job.state === 'completed') {
        const took = job.startedAt && job.finishedAt ? ` in ${formatDuration(job.finishedAt.getTime() - job.startedAt.getTime())}` : ''
        out.line(`${paintState(out, 'completed')}${took} (${attemptText(job.attempt, job.maxAttempts)})`)
        out.line(JSON.stringify(job.result ?? null, null, 2))
      }
      if (failure !== undefined) throw new CliFailure((failure as Error).message)
      return 0
    })
  },
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  stream.setEncoding('utf8')
  for await (const chunk of stream) text += chunk as string
  return text
}
