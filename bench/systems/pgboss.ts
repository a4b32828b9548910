import PgBoss from 'pg-boss'
import { PG_URL, PGBOSS_POLLING_SECONDS, PGBOSS_QUEUE, PGBOSS_SCHEMA } from '../workers/names.js'
import { dropSchema, postgresVersion } from './postgres.js'
import { setUpOrRemove, type BenchSystem, type ScenarioContext, type Space } from './system.js'

/** pg-boss 10 on the local PostgreSQL (synchronous_commit on: acknowledged jobs are durable). */
export class PgBossSystem implements BenchSystem {
  readonly name = 'pgboss'
  readonly title = 'pg-boss (PostgreSQL)'
  readonly durableAcks = 'yes: PostgreSQL with fsync and synchronous_commit on'
  readonly workerScript = 'bench/workers/pgboss.ts'
  readonly shapes = [{ suffix: '', options: { batchSize: 1_000 } }]
  readonly settings = {
    instance: `new PgBoss({ connectionString, schema: '${PGBOSS_SCHEMA}' }) (pool max 10, maintenance and scheduling on, defaults), createQueue() first (required in v10); schema dropped and recreated per step`,
    enqueue: 'boss.send(queue, data); bulk: boss.insert(items) (one INSERT per call)',
    worker: `boss.work(queue, { batchSize: 1000, pollingIntervalSeconds: ${PGBOSS_POLLING_SECONDS} }, handler) in its own process; pg-boss 10 has no concurrency option, so the handler runs the batch's jobs with at most \`concurrency\` in flight`,
    wakeup: `polling every ${PGBOSS_POLLING_SECONDS} s (its minimum): pg-boss 10 has no LISTEN/NOTIFY`,
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  async fresh(_ctx: ScenarioContext, _step: string): Promise<Space> {
    await dropSchema(PGBOSS_SCHEMA)
    const boss = new PgBoss({ connectionString: PG_URL, schema: PGBOSS_SCHEMA })
    boss.on('error', (error: Error) => console.error(`pg-boss: ${error.message}`))
    const remove = async (): Promise<void> => {
      try {
        await boss.stop({ graceful: false, wait: true, close: true })
      } finally {
        await dropSchema(PGBOSS_SCHEMA)
      }
    }
    await setUpOrRemove(async () => {
      await boss.start()
      await boss.createQueue(PGBOSS_QUEUE)
    }, remove)
    return {
      options: {},
      enqueue: (payload) => boss.send(PGBOSS_QUEUE, payload),
      enqueueMany: (payloads) => boss.insert(payloads.map((data) => ({ name: PGBOSS_QUEUE, data }))),
      remove,
    }
  }
}
