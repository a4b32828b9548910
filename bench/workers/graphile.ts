import pg from 'pg'
import { run, runMigrations, type Runner } from 'graphile-worker'
import { wallNow } from '../lib/clock.js'
import { childMain, DrainTracker } from './child.js'
import { GRAPHILE_THROUGHPUT_PRESET, graphileLogger } from './graphile-config.js'
import { GRAPHILE_SCHEMA, GRAPHILE_TASK, PG_URL, type BenchPayload } from './names.js'

// One Graphile Worker process: run() with a task list; the throughput preset for drains, the
// defaults for wake-ups.
childMain(async (config, send) => {
  const counter = new pg.Pool({ connectionString: PG_URL, max: 1 })
  // Graphile deletes a job when it completes: every job completed once the table is empty.
  const remaining = async (): Promise<number> =>
    (await counter.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${pg.escapeIdentifier(GRAPHILE_SCHEMA)}._private_jobs`)).rows[0]!
      .count
  const tracker = new DrainTracker(config.jobs, send, {
    done: async () => (await remaining()) === 0,
    count: async () => config.jobs - (await remaining()),
  })
  await runMigrations({ connectionString: PG_URL, schema: GRAPHILE_SCHEMA, logger: graphileLogger })
  let runner: Runner | undefined
  const throughput = config.options.preset === 'throughput'
  return {
    start: async () => {
      tracker.begin()
      runner = await run({
        connectionString: PG_URL,
        schema: GRAPHILE_SCHEMA,
        concurrency: config.concurrency,
        maxPoolSize: Math.max(10, config.concurrency + 2),
        noHandleSignals: true,
        logger: graphileLogger,
        ...(throughput ? { preset: GRAPHILE_THROUGHPUT_PRESET } : {}),
        taskList: {
          [GRAPHILE_TASK]:
            config.mode === 'drain'
              ? async (_payload, helpers) => tracker.handle(helpers.job.id)
              : async (payload) => {
                  const at = wallNow()
                  const job = payload as BenchPayload
                  send({ type: 'started', seq: job.seq!, sentAt: job.sentAt!, at })
                },
        },
      })
    },
    stop: async () => {
      await runner?.stop()
      await counter.end()
    },
    progress: () => tracker.progress(),
  }
})
