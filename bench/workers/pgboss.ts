import pg from 'pg'
import PgBoss from 'pg-boss'
import { systemChild } from './child.js'
import { PG_URL, PGBOSS_POLLING_SECONDS, PGBOSS_QUEUE, PGBOSS_SCHEMA, type BenchPayload } from './names.js'

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function limited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

// One pg-boss worker process: work() with a batch size (`options.batchSize`); the handler runs the
// batch's jobs with at most `concurrency` in flight.
systemChild(async (config) => {
  const boss = new PgBoss({ connectionString: PG_URL, schema: PGBOSS_SCHEMA })
  boss.on('error', (error: Error) => console.error(`pg-boss: ${error.message}`))
  const counter = new pg.Pool({ connectionString: PG_URL, max: 1 })
  await boss.start()
  const batchSize = Number(config.options.batchSize)
  return {
    work: async (handle) => {
      await boss.work<BenchPayload>(PGBOSS_QUEUE, { batchSize, pollingIntervalSeconds: PGBOSS_POLLING_SECONDS }, (jobs) =>
        limited(jobs, config.concurrency, async (job) => handle(job.data, job.id)),
      )
    },
    enqueue: (payload) => boss.send(PGBOSS_QUEUE, payload),
    completed: async () =>
      (
        await counter.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM ${pg.escapeIdentifier(PGBOSS_SCHEMA)}.job WHERE name = $1 AND state = 'completed'`,
          [PGBOSS_QUEUE],
        )
      ).rows[0]!.count,
    close: async () => {
      await boss.stop({ graceful: false, wait: true, close: true })
      await counter.end()
    },
  }
})
