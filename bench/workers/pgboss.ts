import pg from 'pg'
import PgBoss from 'pg-boss'
import { wallNow } from '../lib/clock.js'
import { childMain, DrainTracker } from './child.js'
import { PG_URL, PGBOSS_QUEUE, PGBOSS_SCHEMA, type BenchPayload } from './names.js'

const POLLING_SECONDS = 0.5

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function limited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

// One pg-boss worker process: work() with a batch size; the handler runs the batch's jobs with at
// most `concurrency` in flight (for a batch no larger than that, all at once).
childMain(async (config, send) => {
  const boss = new PgBoss({ connectionString: PG_URL, schema: PGBOSS_SCHEMA })
  boss.on('error', (error: Error) => console.error(`pg-boss: ${error.message}`))
  const counter = new pg.Pool({ connectionString: PG_URL, max: 1 })
  const completed = async (): Promise<number> =>
    (
      await counter.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM ${pg.escapeIdentifier(PGBOSS_SCHEMA)}.job WHERE name = $1 AND state = 'completed'`,
        [PGBOSS_QUEUE],
      )
    ).rows[0]!.count
  const tracker = new DrainTracker(config.jobs, send, { done: async () => (await completed()) >= config.jobs, count: completed })
  await boss.start()
  const batchSize = Number(config.options.batchSize)
  const handle =
    config.mode === 'drain'
      ? async (job: PgBoss.Job<BenchPayload>) => tracker.handle(job.id)
      : async (job: PgBoss.Job<BenchPayload>) => {
          const at = wallNow()
          send({ type: 'started', seq: job.data.seq!, sentAt: job.data.sentAt!, at })
        }
  return {
    start: async () => {
      tracker.begin()
      await boss.work<BenchPayload>(PGBOSS_QUEUE, { batchSize, pollingIntervalSeconds: POLLING_SECONDS }, (jobs) =>
        limited(jobs, config.concurrency, handle),
      )
    },
    stop: async () => {
      await boss.stop({ graceful: false, wait: true, close: true })
      await counter.end()
    },
    progress: () => tracker.progress(),
  }
})
