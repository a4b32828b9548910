import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createOffload, type Offload, type Task } from '../../src/index.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload as OffloadPayload } from '../workers/names.js'
import { setUpOrRemove, type BenchSystem, type HttpApi, type ScenarioContext, type Space, type SystemName, type WorkerShape } from './system.js'

/** The task module `offload serve` loads in the `http` step: the no-op task, nothing else. */
const HTTP_TASKS = 'bench/workers/http-tasks.ts'

export interface Instance {
  offload: Offload
  task: Task<OffloadPayload, void>
}

/** An instance on `url`; the store is migrated before any timing starts. */
export async function open(url: string, run: (payload: OffloadPayload) => void = () => {}): Promise<Instance> {
  const offload = createOffload({ store: url, logger: false })
  const task = offload.task<OffloadPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run })
  await offload.migrate()
  return { offload, task }
}

/** Queues `jobs` no-op jobs, 10,000 per enqueueMany, untimed. */
export async function fill(task: Task<OffloadPayload, void>, jobs: number): Promise<void> {
  for (let first = 0; first < jobs; first += 10_000) {
    const size = Math.min(10_000, jobs - first)
    await task.enqueueMany(Array.from({ length: size }, (_, k) => ({ payload: { i: first + k } })))
  }
}

/**
 * Offload, the same on every store: a subclass says where a step's fresh store lives. Every
 * instance uses the library's defaults.
 */
export abstract class OffloadStoreSystem implements BenchSystem {
  abstract readonly name: SystemName
  abstract readonly title: string
  abstract readonly durableAcks: string
  abstract readonly settings: Record<string, string>
  readonly workerScript = 'bench/workers/offload.ts'
  /**
   * The library's defaults, then the same drain with flow control that leaves the worker's
   * parallelism as it is: a queue concurrency limit equal to the worker's concurrency (reached:
   * every slot waits for its job's outcome to commit), one of 1,000 (never reached: what enforcing
   * a limit costs), and jobs spread over 100 groups of at most 5 running each.
   */
  readonly shapes: readonly WorkerShape[] = [
    { suffix: '', options: {} },
    { suffix: ' · queue concurrency limit = c', options: { flow: 'concurrency' } },
    { suffix: ' · queue concurrency limit 1,000', options: { flow: 'concurrency-1000' } },
    { suffix: ' · 100 groups, 5 running each', options: { flow: 'groups' }, groups: 100 },
  ]
  /** The same worker on every store: `settings.worker` of both. */
  protected readonly workerSetting = 'offload.work({ concurrency, handleSignals: false }) in its own process (batchSize = concurrency, maintenance on)'
  /** `offload serve` as a user starts it, on the step's fresh store, with the bench's no-op task module. */
  readonly http: HttpApi = {
    server: (space) => ({
      args: ['src/cli/main.ts', 'serve', '--tasks', HTTP_TASKS, '--store', String(space.options.store), '--host', '127.0.0.1', '--port', '0', '--json'],
      // No tokens, whatever the bench's environment holds: an open API, as the server allows on
      // loopback. With one, every request would also pay the token check and the per-token rate
      // limit (1,000 a second by default) would answer 429.
      env: { OFFLOAD_API_TOKENS: undefined },
    }),
    enqueue: { path: '/v1/jobs', body: JSON.stringify({ task: OFFLOAD_TASK, payload: { i: 1 } }) },
  }
  /** `settings.http` of both. */
  protected readonly httpSetting = `offload serve --tasks ${HTTP_TASKS} --store <the step's store> --host 127.0.0.1 --port 0 in its own process, server and library defaults, no API tokens (open on loopback: no token check, no rate limit); POST /v1/jobs ${this.http.enqueue.body} → 202 with the job`

  abstract probe(): Promise<Record<string, string>>
  /** A new empty store for `step`, not yet migrated: its URL, and how to delete it. */
  protected abstract freshStore(ctx: ScenarioContext, step: string): Promise<{ url: string; remove(): Promise<void> }>

  async fresh(ctx: ScenarioContext, step: string): Promise<Space> {
    const store = await this.freshStore(ctx, step)
    const { offload, task } = await setUpOrRemove(() => open(store.url), () => store.remove())
    return {
      options: { store: store.url },
      enqueue: (payload) => task.enqueue(payload),
      enqueueMany: (payloads, groups) =>
        task.enqueueMany(payloads.map((payload) => (groups === undefined ? { payload } : { payload, options: { group: `g${(payload.i ?? 0) % groups}` } }))),
      jobCount: async () => (await offload.countJobs()).reduce((sum, row) => sum + row.count, 0),
      remove: async () => {
        try {
          await offload.close()
        } finally {
          await store.remove()
        }
      },
    }
  }
}

/** Offload on its embedded SQLite store: WAL, synchronous=FULL, group commit (the library's defaults). */
export class OffloadSystem extends OffloadStoreSystem {
  readonly name = 'offload'
  readonly title = 'Offload (SQLite)'
  readonly durableAcks = 'yes: an enqueue resolves after its commit is fsynced (WAL, synchronous=FULL)'
  readonly settings = {
    store: "createOffload({ store: 'sqlite:<tmp file>', logger: false }), library defaults: WAL, synchronous=FULL, group commit; a new file per step",
    enqueue: 'task.enqueue(payload); bulk: task.enqueueMany(items)',
    worker: this.workerSetting,
    http: this.httpSetting,
    wakeup: "a worker in another process hears a commit through an inotify watch on the database's -wal file, then PRAGMA data_version",
  }
  private fileCount = 0

  async probe(): Promise<Record<string, string>> {
    const db = new Database(':memory:')
    try {
      return { sqlite: String(db.prepare('SELECT sqlite_version()').pluck().get()) }
    } finally {
      db.close()
    }
  }

  protected async freshStore(ctx: ScenarioContext, step: string): Promise<{ url: string; remove(): Promise<void> }> {
    const file = join(ctx.tmpDir, `offload-${step}-${++this.fileCount}.db`)
    return {
      url: `sqlite:${file}`,
      remove: async () => {
        await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(file + suffix, { force: true })))
      },
    }
  }
}
