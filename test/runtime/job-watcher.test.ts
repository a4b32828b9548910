import { afterEach, expect, test } from 'vitest'
import { JobWatcher } from '../../src/job-watcher.js'
import { uuidv7 } from '../../src/ids.js'
import { silentLogger } from '../../src/logger.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { tempDb } from '../support/temp.js'

const stores: Store[] = []
let watcher: JobWatcher | undefined

afterEach(async () => {
  watcher?.close()
  watcher = undefined
  await Promise.all(stores.splice(0).map((store) => store.close()))
})

async function open(path: string): Promise<Store> {
  const store = new SqliteStore({ path })
  stores.push(store)
  await store.migrate()
  return store
}

/** Jobs finished by another connection (another process, as far as the watcher can tell). */
async function finishElsewhere(store: Store, ids: string[]): Promise<void> {
  const claimed = await store.jobClaim({ queues: ['default'], workerId: 'elsewhere', limit: ids.length, leaseMs: 60_000 })
  expect(claimed.map((job) => job.id).sort()).toEqual([...ids].sort())
  await store.jobFinishMany({ finishes: claimed.map((job) => ({ id: job.id, lease: job.lease, outcome: 'completed' as const, result: '"ok"' })) })
}

async function enqueue(store: Store, count: number): Promise<string[]> {
  const jobs = Array.from({ length: count }, () => ({ id: uuidv7(), task: 't', queue: 'default', payload: '{}', priority: 0, maxAttempts: 1 }))
  await store.jobInsertMany({ jobs })
  return jobs.map((job) => job.id)
}

// The watcher's own poll is an hour here: only the change notes can resolve these waits.
for (const count of [3, 100]) {
  test(`${count} awaited jobs finished by another connection resolve through change notes (${count > 32 ? 'event-log tail' : 'job by job'})`, async () => {
    const path = tempDb()
    const [here, there] = [await open(path), await open(path)]
    const ids = await enqueue(here, count)
    watcher = new JobWatcher(here, 3_600_000, silentLogger)
    const waits = ids.map((id) => watcher!.wait(id, undefined))
    await finishElsewhere(there, ids)
    const jobs = await Promise.all(waits)
    expect(jobs.map((job) => job.state)).toEqual(ids.map(() => 'completed'))
  })
}
