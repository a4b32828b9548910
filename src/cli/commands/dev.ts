import { isOffloadError } from '../../errors.js'
import type { JobEvent, JobInfo } from '../../job.js'
import { resolveWorkOptions } from '../../offload.js'
import type { Store } from '../../store/store.js'
import { TASKS_OPTION, withOffload, type Command } from '../command.js'
import { EventFollower } from '../../event-follower.js'
import { clockTime, eventDetail, oneLine, paintState, shortId } from '../format.js'
import type { Output } from '../output.js'
import { loadTaskModules, taskPaths } from '../task-modules.js'
import { printApi, SERVER_FLAGS, SERVER_OPTIONS, serverModule, serverOptions } from './serve.js'
import { CONCURRENCY_OPTIONS, queuesOf, runUntilStopped, WORK_FLAGS, workOptions } from './worker.js'

export const devCommand: Command = {
  name: 'dev',
  usage: 'dev',
  summary: 'run a worker and the HTTP API, and print every job event as it happens (npm start)',
  description:
    'For development: migrates the store, starts a worker for the --tasks modules and the HTTP API\n' +
    "(as `offload serve` does, on 127.0.0.1:7070 by default), calls each module's exported\n" +
    'seed(offload, log) function once (to enqueue demo jobs), and prints every job event as it\n' +
    'happens: enqueued, started, progress, log lines, retries, outcomes. Runs until Ctrl-C, which\n' +
    'stops the worker gracefully. With --json, prints JSON Lines:\n' +
    '{"type":"ready"|"seed"|"event"|"stopped", …}; ready carries the API\'s address as api.',
  options: { ...TASKS_OPTION, ...CONCURRENCY_OPTIONS, ...SERVER_OPTIONS },
  positionals: { min: 0, max: 0 },
  flags: { ...WORK_FLAGS, ...SERVER_FLAGS },
  examples: [
    'offload dev --tasks examples/tasks.ts',
    'OFFLOAD_TASKS=src/tasks.ts offload dev --concurrency 4 --store sqlite:./tmp/dev.db --port 0',
  ],
  async run({ args, out, io, storeUrl }) {
    const options = workOptions(args)
    const apiOptions = await serverOptions(args, io)
    const modules = await loadTaskModules(taskPaths(args, io.env), io.cwd)
    // dev migrates before its worker starts (the event log must exist to be followed), so check
    // what work() would reject first: bad input must not change the store, not even its schema.
    resolveWorkOptions(options, modules.tasks)
    return withOffload(storeUrl, { tasks: modules.tasks, schedules: modules.schedules }, async (offload, store) => {
      const { version } = await offload.migrate()
      const printer = new EventPrinter(store, out, Math.max(12, ...modules.tasks.map((task) => task.name.length)))
      const follower = new EventFollower(store, {
        pollMs: 100,
        batch: 1000,
        onEvents: (events) => printer.print(events),
        onError: (error) => out.note(`offload: reading the event log failed: ${error instanceof Error ? error.message : String(error)}`),
      })
      // The API before the worker, so the banner can say where it is; it stops after the worker.
      const api = await (await serverModule()).startServer(offload, apiOptions)
      try {
        await follower.start()
        const queues = queuesOf(options, modules.tasks)
        const concurrency = options.concurrency ?? 10
        let stopping = false
        try {
          await runUntilStopped(offload, options, out, async (worker) => {
            void worker.done.then(() => (stopping = true))
            if (out.json) {
              out.record({
                type: 'ready',
                workerId: worker.id,
                store: store.description,
                schemaVersion: version,
                tasks: modules.tasks.map((task) => task.name),
                queues,
                concurrency,
                api: api.url,
              })
            } else {
              out.line(`${out.bold('offload dev')}  ${store.description} (schema v${version})`)
              printApi(out, io, api, apiOptions, modules)
              out.line(`  worker   queues ${queues.join(', ')}, concurrency ${concurrency}`)
              out.line(`  stop     Ctrl-C: running jobs finish first; press it again to stop at once`)
              out.line()
            }
            for (const { file, seed } of modules.seeds) {
              const log = (message: string): void =>
                out.json ? out.record({ type: 'seed', file, message }) : out.line(`${out.dim(clockTime(new Date()))}  ${out.dim('seed')}  ${message}`)
              try {
                await seed(offload, log)
              } catch (error) {
                // A seed that fails because Ctrl-C closed the instance mid-way is not news.
                if (stopping || isOffloadError(error, 'CLOSED')) continue
                out.note(`offload: seed() of ${file} failed: ${oneLine(error instanceof Error ? error.message : String(error))}`)
              }
            }
          })
        } finally {
          // The store is still open (withOffload closes it last): print what shutdown wrote, such
          // as jobs released back to their queue.
          await follower.stop()
        }
      } finally {
        await api.close()
      }
      if (out.json) out.record({ type: 'stopped' })
      else out.line('stopped')
      return 0
    })
  },
}

/**
 * Turns events into lines: `12:00:01.234  image.resize  …a1b2c3d4  started    attempt 1/5`.
 * Event rows carry no attempt limit, result or run time, so it reads the job when a line needs it.
 */
class EventPrinter {
  /** Jobs seen, for the attempt limit; dropped once a job finishes, and bounded anyway. */
  private readonly jobs = new Map<string, JobInfo>()
  private readonly startedAt = new Map<string, Date>()

  constructor(
    private readonly store: Store,
    private readonly out: Output,
    private readonly taskWidth: number,
  ) {}

  async print(events: JobEvent[]): Promise<void> {
    for (const event of events) {
      if (this.out.json) {
        this.out.record({ type: 'event', event })
        continue
      }
      const job = await this.job(event)
      if (event.type === 'started') this.startedAt.set(event.jobId, event.at)
      const detail = eventDetail(event, job, this.out, { live: true, startedAt: this.startedAt.get(event.jobId) })
      this.out.line(
        `${this.out.dim(clockTime(event.at))}  ${event.task.padEnd(this.taskWidth)}  ${this.out.dim(shortId(event.jobId))}  ` +
          `${paintState(this.out, event.type, event.type.padEnd(9))}  ${detail}`.trimEnd(),
      )
      if (event.state === 'completed' || event.state === 'failed' || event.state === 'cancelled') {
        this.jobs.delete(event.jobId)
        this.startedAt.delete(event.jobId)
      }
    }
  }

  private async job(event: JobEvent): Promise<JobInfo | undefined> {
    // A final event needs the stored result; the others need only what does not change.
    const fresh = event.type === 'completed' || event.type === 'enqueued'
    let job = fresh ? undefined : this.jobs.get(event.jobId)
    if (job === undefined && event.type !== 'progress' && event.type !== 'log') {
      job = await this.store.jobGet({ id: event.jobId })
      if (job !== undefined) {
        if (this.jobs.size >= 10_000) this.jobs.delete(this.jobs.keys().next().value!)
        this.jobs.set(event.jobId, job)
      }
    }
    return job
  }
}
