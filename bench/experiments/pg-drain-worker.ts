import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { PostgresStore, type Store } from '../../src/index.js'
import { offloadWorker } from '../workers/offload-worker.js'
import type { WorkerConfig } from '../workers/protocol.js'
import { onStoreQuery, pruneByAge, stateAsParameter } from './store-pg.js'

/**
 * workers/offload.ts's drain on the PostgreSQL store with changes applied from outside, for
 * pg-costs.ts --part history. Options (besides `store`, the URL):
 *   pruneByAge    the prune picks its victims by finished_at (store-pg.ts)
 *   customPlans   the store's connections plan every execution afresh (plan_cache_mode)
 *   stateAsParameter  the completion's and heartbeat's state fence compared with a parameter (store-pg.ts)
 *   backpressure  N: a claim waits while N or more claimed jobs have no outcome written yet
 *   statsFile     where to write what the store saw: completion batches, claimed-but-unfinished peak
 */
const options = (JSON.parse(process.argv[2] ?? '{}') as WorkerConfig).options ?? {}
if (options.pruneByAge === true) onStoreQuery(pruneByAge)
if (options.stateAsParameter === true) onStoreQuery(stateAsParameter)

interface Stats {
  finishBatches: { size: number; ms: number }[]
  unfinishedPeak: number
}
const stats: Stats = { finishBatches: [], unfinishedPeak: 0 }
let unfinished = 0
let finished: () => void = () => {}
let opened: Store | undefined

function wrap(store: PostgresStore, backpressure: number): Store {
  const claim = store.jobClaim.bind(store)
  const finish = store.jobFinishMany.bind(store)
  store.jobClaim = async (params) => {
    while (backpressure > 0 && unfinished + params.limit > backpressure) await new Promise<void>((resolve) => (finished = resolve))
    const jobs = await claim(params)
    unfinished += jobs.length
    stats.unfinishedPeak = Math.max(stats.unfinishedPeak, unfinished)
    return jobs
  }
  store.jobFinishMany = async (params) => {
    const started = performance.now()
    const applied = await finish(params)
    stats.finishBatches.push({ size: params.finishes.length, ms: performance.now() - started })
    unfinished -= params.finishes.length
    finished()
    return applied
  }
  return store
}

offloadWorker(
  (config) => {
    const url = new URL(String(config.options.store))
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    if (config.options.customPlans === true) url.searchParams.set('options', '-c plan_cache_mode=force_custom_plan')
    opened = wrap(new PostgresStore({ url: url.toString(), schema }), Number(config.options.backpressure ?? 0))
    return opened
  },
  async () => {
    await opened?.close()
    if (typeof options.statsFile === 'string') writeFileSync(options.statsFile, JSON.stringify(stats))
  },
)
