import { createOffload, SqliteStore, type Store, type StoreNote } from '../../src/index.js'
import { wallNow } from '../lib/clock.js'
import { childMain } from '../workers/child.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from '../workers/names.js'

/**
 * An Offload worker on a store wrapped to timestamp the wake-up path: when a `changed` note
 * arrives, when the runtime calls jobClaim and when a claim that returned jobs resolves.
 */
childMain(async (config, send) => {
  const inner = new SqliteStore({ path: String(config.options.file), changePollMs: Number(config.options.pollMs) })
  let noteAt = 0
  let claimCallAt = 0
  let claimDoneAt = 0
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'listen') {
        return (listener: (note: StoreNote) => void) =>
          target.listen((note) => {
            if (note.kind === 'changed' && noteAt === 0) noteAt = wallNow()
            listener(note)
          })
      }
      if (property === 'jobClaim') {
        return async (params: Parameters<Store['jobClaim']>[0]) => {
          const calledAt = wallNow()
          const jobs = await target.jobClaim(params)
          if (jobs.length > 0) {
            claimCallAt = calledAt
            claimDoneAt = wallNow()
          }
          return jobs
        }
      }
      const value = Reflect.get(target, property, receiver) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  }) as Store
  const offload = createOffload({ store, logger: false })
  offload.task<BenchPayload, void>(OFFLOAD_TASK, {
    queue: OFFLOAD_QUEUE,
    run: (payload) => {
      const at = wallNow()
      send({ type: 'started', seq: payload.seq!, sentAt: payload.sentAt!, at, detail: { noteAt, claimCallAt, claimDoneAt } })
      noteAt = 0
    },
  })
  await offload.migrate()
  return {
    start: async () => {
      await offload.work({ concurrency: config.concurrency, handleSignals: false })
    },
    stop: async () => {
      await offload.close()
      await inner.close()
    },
  }
})
