import { afterEach, expect } from 'vitest'
import { createOffload, type Offload, type OffloadConfig } from '../../src/index.js'
import { tempDb } from './temp.js'

const instances: Offload[] = []
afterEach(async () => {
  await Promise.all(instances.splice(0).map((instance) => instance.close()))
})

/** An Offload instance closed after the test: on a new SQLite file unless `store` names one. */
export function openInstance(config: OffloadConfig = {}, store = `sqlite:${tempDb()}`): Offload {
  const offload = createOffload({ store, logger: false, ...config })
  instances.push(offload)
  return offload
}

/** What `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (error: unknown) => error,
  )
}
