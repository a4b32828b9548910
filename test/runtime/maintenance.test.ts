import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, type Offload, type OffloadConfig } from '../../src/index.js'
import { adminQuery, tempStoreUrl } from '../support/postgres.js'
import { eventually } from '../support/eventually.js'
import { STORE_KINDS } from '../support/stores.js'

const open: Offload[] = []

afterEach(async () => {
  await Promise.all(open.splice(0).map((offload) => offload.close({ grace: 0 })))
})

function instance(store: string, config: OffloadConfig = {}): Offload {
  const offload = createOffload({ store, logger: false, ...config })
  open.push(offload)
  return offload
}

describe.each(STORE_KINDS)('%s store', (_name, newStore) => {
  test('finished jobs are pruned after their retention, unfinished ones never', async () => {
    const store = newStore()
    const offload = instance(store, { retention: { completed: '50ms', failed: '1h' }, maintenance: { pruneInterval: '50ms' } })
    const task = offload.task('short-lived', {
      attempts: 1,
      run(input: { fail: boolean }) {
        if (input.fail) throw new Error('kept for a while')
      },
    })
    const later = await task.enqueue({ fail: false }, { delay: '1h' })
    await offload.work({ handleSignals: false })
    const done = await task.enqueue({ fail: false })
    const failed = await task.enqueue({ fail: true })
    await done.result({ timeout: '10s' })
    await expect(failed.result({ timeout: '10s' })).rejects.toMatchObject({ code: 'JOB_FAILED' })

    await eventually(async () => (await offload.getJob(done.id)) === undefined, 'the completed job is pruned')
    expect(await offload.jobEvents(done.id)).toEqual([])
    expect(await offload.getJob(failed.id)).toMatchObject({ state: 'failed' })
    expect(await offload.getJob(later.id)).toMatchObject({ state: 'scheduled' })
  })

  test('when the maintenance leader leaves, another process takes over and promotes due jobs', async () => {
    const store = newStore()
    const maintenance = { leaderTtl: '300ms', promoteInterval: '1h' }
    const first = instance(store, { maintenance })
    first.task('delayed', { run: () => 'first' })
    await first.work({ handleSignals: false, pollInterval: '1h' })
    const probe = instance(store)
    await eventually(async () => !(await probe.store.leaderElect({ name: 'maintenance', owner: 'probe', ttlMs: 1 })), 'someone leads')

    const second = instance(store, { maintenance })
    const delayed = second.task('delayed', { run: () => 'second' })
    await second.work({ handleSignals: false, pollInterval: '1h' })
    await first.close()

    // Only the second instance is left to promote it; its promoter must have taken over.
    const job = await delayed.enqueue(undefined, { delay: '100ms' })
    expect(await job.result({ timeout: '10s' })).toBe('second')
  })
})

describe('PostgreSQL store', () => {
  test("the maintenance leader folds the job counts' appended changes into their totals", async () => {
    const url = tempStoreUrl('fold')
    const schema = new URL(url).searchParams.get('schema')!
    const offload = instance(url)
    const task = offload.task('counted', { run: (_index: number) => {} })
    await offload.work({ handleSignals: false })
    const jobs = await task.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ payload: i })))
    await Promise.all(jobs.map((job) => job.result({ timeout: '10s' })))
    const unfolded = async (): Promise<number> => (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.queue_count_deltas`))[0]!.n
    await eventually(async () => (await unfolded()) === 0, 'the leader folded every change')
    expect(await offload.countJobs()).toEqual([{ queue: 'default', state: 'completed', count: 20 }])
  })
})
