import { makeWorkerUtils } from 'graphile-worker'
import { GRAPHILE_SCHEMA, GRAPHILE_TASK, PG_URL } from '../workers/names.js'
import { graphileLogger } from '../workers/graphile-config.js'
import { dropSchema, postgresVersion } from './postgres.js'
import { setUpOrRemove, type BenchSystem, type ScenarioContext, type Space } from './system.js'

/** Graphile Worker 0.17 on the local PostgreSQL (synchronous_commit on: acknowledged jobs are durable). */
export class GraphileSystem implements BenchSystem {
  readonly name = 'graphile'
  readonly title = 'Graphile Worker (PostgreSQL)'
  readonly durableAcks = 'yes: PostgreSQL with fsync and synchronous_commit on'
  readonly workerScript = 'bench/workers/graphile.ts'
  // The throughput set-up first (every scenario uses it); the drain also measures the defaults.
  readonly shapes = [
    { suffix: '', options: { preset: 'throughput' } },
    { suffix: ' · defaults', options: { preset: 'default' } },
  ]
  readonly settings = {
    utils: `makeWorkerUtils({ connectionString, schema: '${GRAPHILE_SCHEMA}' }), migrated before timing; schema dropped and recreated per step`,
    enqueue: 'utils.addJob(task, payload); bulk: utils.addJobs(items) (the bulk API, experimental in 0.17)',
    worker:
      'run({ concurrency, maxPoolSize: max(10, concurrency + 2), noHandleSignals: true, preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }) in its own process — the batching its performance page recommends; "· defaults" rows: the same without the preset',
    wakeup: 'LISTEN/NOTIFY',
  }

  async probe(): Promise<Record<string, string>> {
    return { postgresql: await postgresVersion() }
  }

  async fresh(_ctx: ScenarioContext, _step: string): Promise<Space> {
    await dropSchema(GRAPHILE_SCHEMA)
    const utils = await makeWorkerUtils({ connectionString: PG_URL, schema: GRAPHILE_SCHEMA, logger: graphileLogger })
    const remove = async (): Promise<void> => {
      try {
        await utils.release()
      } finally {
        await dropSchema(GRAPHILE_SCHEMA)
      }
    }
    await setUpOrRemove(() => utils.migrate(), remove)
    return {
      options: {},
      enqueue: (payload) => utils.addJob(GRAPHILE_TASK, payload),
      enqueueMany: (payloads) => utils.addJobs(payloads.map((payload) => ({ identifier: GRAPHILE_TASK, payload }))),
      remove,
    }
  }
}
