import pg from 'pg'
import { makeWorkerUtils, run, runMigrations, type Runner, type WorkerUtils } from 'graphile-worker'
import { systemChild } from './child.js'
import { GRAPHILE_THROUGHPUT_PRESET, graphileLogger } from './graphile-config.js'
import { GRAPHILE_SCHEMA, GRAPHILE_TASK, PG_URL, type BenchPayload } from './names.js'

// One Graphile Worker process: run() with a task list, at its defaults or with the throughput
// preset its performance page recommends (`options.preset`).
systemChild(async (config) => {
  const counter = new pg.Pool({ connectionString: PG_URL, max: 1 })
  // Graphile deletes a job when it completes: what left the table completed.
  const remaining = async (): Promise<number> =>
    (await counter.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${pg.escapeIdentifier(GRAPHILE_SCHEMA)}._private_jobs`)).rows[0]!
      .count
  await runMigrations({ connectionString: PG_URL, schema: GRAPHILE_SCHEMA, logger: graphileLogger })
  let utils: WorkerUtils | undefined
  if (config.mode === 'produce') utils = await makeWorkerUtils({ connectionString: PG_URL, schema: GRAPHILE_SCHEMA, logger: graphileLogger })
  let runner: Runner | undefined
  return {
    work: async (handle) => {
      runner = await run({
        connectionString: PG_URL,
        schema: GRAPHILE_SCHEMA,
        concurrency: config.concurrency,
        maxPoolSize: Math.max(10, config.concurrency + 2),
        noHandleSignals: true,
        logger: graphileLogger,
        ...(config.options.preset === 'throughput' ? { preset: GRAPHILE_THROUGHPUT_PRESET } : {}),
        taskList: { [GRAPHILE_TASK]: async (payload, helpers) => handle(payload as BenchPayload, helpers.job.id) },
      })
    },
    enqueue: (payload) => utils!.addJob(GRAPHILE_TASK, payload),
    completed: async () => config.jobs - (await remaining()),
    close: async () => {
      await runner?.stop()
      await utils?.release()
      await counter.end()
    },
  }
})
