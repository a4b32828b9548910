/**
 * Conformance for flow control in claims: job groups and their round-robin, a queue's concurrency
 * and rate limits, per-group concurrency, and exclusions. Part of the one suite every store runs
 * (see conformance.ts); speaks only the `Store` interface. Time is the `now` parameter.
 */
import { describe, expect, test } from 'vitest'
import type { ClaimedJob, JobClaimParams, QueueLimits, Store } from '../../src/store/store.js'
import { databaseSetup, jobInsert, type StoreHarness } from './conformance.js'

/** A window start: a multiple of every rate interval the tests use. */
const T = 1_700_000_000_000

export function describeLimitsConformance(harness: StoreHarness): void {
  describe(`Store conformance, flow control: ${harness.name}`, () => {
    const setup = databaseSetup(harness)

    const limited = (queue: string, limits: QueueLimits): ReadonlyMap<string, QueueLimits> => new Map([[queue, limits]])

    describe('groups', () => {
      test('a grouped job keeps its group through jobGet, the claim and export', async () => {
        const { store } = await setup()
        const job = jobInsert({ group: 'customer-1' })
        await store.jobInsertMany({ jobs: [job, jobInsert()], now: T })
        expect((await store.jobGet({ id: job.id }))?.group).toBe('customer-1')
        const claimed = await claim(store, { limit: 2, now: T })
        expect(claimed.map((c) => c.group)).toEqual([undefined, 'customer-1'])
        const [record] = await store.jobExport({ limit: 10 })
        expect(record?.job.group).toBe('customer-1')
      })

      test("claims take the groups' jobs in turn, whatever order they were enqueued in", async () => {
        const { store } = await setup()
        const big = Array.from({ length: 6 }, () => jobInsert({ group: 'big' }))
        const small = Array.from({ length: 2 }, () => jobInsert({ group: 'small' }))
        await store.jobInsertMany({ jobs: big, now: T })
        await store.jobInsertMany({ jobs: small, now: T })
        const order: string[] = []
        for (let i = 0; i < 8; i++) order.push((await claim(store, { limit: 1, now: T }))[0]!.group!)
        expect(order).toEqual(['big', 'small', 'big', 'small', 'big', 'big', 'big', 'big'])
      })

      test('a group that arrives late starts at the current turn, not behind the backlog', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: Array.from({ length: 10 }, () => jobInsert({ group: 'big' })), now: T })
        expect(await claim(store, { limit: 4, now: T })).toHaveLength(4)
        await store.jobInsertMany({ jobs: [jobInsert({ group: 'late' }), jobInsert({ group: 'late' })], now: T })
        const next = await claim(store, { limit: 4, now: T })
        expect(next.map((job) => job.group)).toEqual(['late', 'big', 'late', 'big'])
      })

      test('a group that waited a long time joins at the current turn too, not at its old one', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: [jobInsert({ group: 'early' })], now: T })
        await claim(store, { limit: 1, now: T })
        await store.jobInsertMany({ jobs: Array.from({ length: 6 }, () => jobInsert({ group: 'busy' })), now: T })
        expect(await claim(store, { limit: 3, now: T })).toHaveLength(3)
        await store.jobInsertMany({ jobs: [jobInsert({ group: 'early' }), jobInsert({ group: 'early' })], now: T })
        const next = await claim(store, { limit: 4, now: T })
        // 'busy' had turns 0–2; 'early' (last seen at turn 0) joins at turn 2, not at 1.
        expect(next.map((job) => job.group)).toEqual(['early', 'busy', 'early', 'busy'])
      })

      test('jobs without a group come before grouped ones of the same priority; priority comes first', async () => {
        const { store } = await setup()
        const grouped = jobInsert({ group: 'g' })
        const plain = jobInsert()
        const urgent = jobInsert({ group: 'g', priority: 5 })
        await store.jobInsertMany({ jobs: [grouped, plain, urgent], now: T })
        expect((await claim(store, { limit: 3, now: T })).map((job) => job.id)).toEqual([urgent.id, plain.id, grouped.id])
      })
    })

    describe('limits', () => {
      test('concurrency: a claim takes only what the queue has room for, across connections', async () => {
        const { store, open } = await setup()
        const other = await open()
        await store.jobInsertMany({ jobs: Array.from({ length: 10 }, () => jobInsert()), now: T })
        const limits = limited('default', { concurrency: 3 })
        const first = await claim(store, { limit: 10, limits, now: T })
        expect(first).toHaveLength(3)
        expect(await claim(other, { limit: 10, limits, now: T })).toHaveLength(0)
        await store.jobFinishMany({ finishes: [{ id: first[0]!.id, lease: first[0]!.lease, outcome: 'completed', result: 'null' }], now: T })
        expect(await claim(other, { limit: 10, limits, now: T })).toHaveLength(1)
      })

      test('concurrency: claims racing on several connections never pass the limit together', async () => {
        const { store, open } = await setup()
        const connections = [store, await open(), await open()]
        await store.jobInsertMany({ jobs: Array.from({ length: 30 }, () => jobInsert()), now: T })
        const limits = limited('default', { concurrency: 4 })
        const claims = await Promise.all(connections.flatMap((connection) => [1, 2, 3].map(() => claim(connection, { limit: 3, limits, now: T }))))
        expect(claims.flat()).toHaveLength(4)
        expect(new Set(claims.flat().map((job) => job.id)).size).toBe(4)
      })

      test('rate: at most the limit per window, counted across claims and connections; the next window starts again', async () => {
        const { store, open } = await setup()
        const other = await open()
        await store.jobInsertMany({ jobs: Array.from({ length: 20 }, () => jobInsert()), now: T })
        const limits = limited('default', { rate: { limit: 5, intervalMs: 1000 } })
        expect(await claim(store, { limit: 3, limits, now: T })).toHaveLength(3)
        expect(await claim(other, { limit: 10, limits, now: T + 400 })).toHaveLength(2)
        expect(await claim(store, { limit: 10, limits, now: T + 999 })).toHaveLength(0)
        expect(await claim(other, { limit: 10, limits, now: T + 1000 })).toHaveLength(5)
        expect(await claim(store, { limit: 10, limits, now: T + 3500 })).toHaveLength(5)
      })

      test('per-group concurrency: at most K of a group run, other groups and ungrouped jobs go on', async () => {
        const { store, open } = await setup()
        const other = await open()
        await store.jobInsertMany({
          jobs: [...Array.from({ length: 5 }, () => jobInsert({ group: 'a' })), ...Array.from({ length: 5 }, () => jobInsert({ group: 'b' })), jobInsert()],
          now: T,
        })
        const limits = limited('default', { groupConcurrency: 2 })
        const first = await claim(store, { limit: 10, limits, now: T })
        expect(first.map((job) => job.group ?? '-').sort()).toEqual(['-', 'a', 'a', 'b', 'b'])
        expect(await claim(other, { limit: 10, limits, now: T })).toHaveLength(0)
        const a = first.find((job) => job.group === 'a')!
        await store.jobFinishMany({ finishes: [{ id: a.id, lease: a.lease, outcome: 'completed', result: 'null' }], now: T })
        expect((await claim(other, { limit: 10, limits, now: T })).map((job) => job.group)).toEqual(['a'])
      })

      test('per-group concurrency passes over thousands of jobs of a group at its limit to reach the jobs behind them', async () => {
        const { store } = await setup()
        // Higher priority puts the whole big group ahead of the other in the ready index.
        await store.jobInsertMany({ jobs: Array.from({ length: 3000 }, () => jobInsert({ group: 'big', priority: 5 })), now: T })
        await store.jobInsertMany({ jobs: [jobInsert({ group: 'small' }), jobInsert()], now: T })
        const limits = limited('default', { groupConcurrency: 1 })
        expect((await claim(store, { limit: 5, limits, now: T })).map((job) => job.group ?? '-')).toEqual(['big', '-', 'small'])
        expect(await claim(store, { limit: 5, limits, now: T })).toHaveLength(0)
      })

      test('names that need quoting (queue, group, excluded task) claim as any other, under every limit at once', async () => {
        const { store } = await setup()
        const queue = "it's a \\ $1 queue"
        const group = "o'brien"
        await store.jobInsertMany({
          jobs: [...Array.from({ length: 3 }, () => jobInsert({ queue, group })), jobInsert({ queue, group: 'x' }), jobInsert({ queue, task: "bad'task" })],
          now: T,
        })
        const limits = limited(queue, { concurrency: 4, rate: { limit: 3, intervalMs: 1000 }, groupConcurrency: 2 })
        const exclude = [{ task: "bad'task" }]
        // The rate allows 3 this window; the group at most 2 at once; the excluded task none.
        expect((await claim(store, { queues: [queue], limit: 10, limits, exclude, now: T })).map((job) => job.group)).toEqual([group, 'x', group])
        expect(await claim(store, { queues: [queue], limit: 10, limits, now: T + 500 })).toHaveLength(0)
        // Next window: room for one under the concurrency limit; the group is at its limit.
        expect(await claim(store, { queues: [queue], limit: 10, limits, exclude, now: T + 1000 })).toHaveLength(0)
        expect((await claim(store, { queues: [queue], limit: 10, limits, now: T + 1000 })).map((job) => job.task)).toEqual(["bad'task"])
      })

      test("limits of one queue leave another queue's claims alone; a paused limited queue gives nothing", async () => {
        const { store } = await setup()
        await store.jobInsertMany({
          jobs: [...Array.from({ length: 4 }, () => jobInsert({ queue: 'slow' })), ...Array.from({ length: 4 }, () => jobInsert({ queue: 'fast' }))],
          now: T,
        })
        const limits = limited('slow', { concurrency: 1 })
        const claimed = await claim(store, { queues: ['slow', 'fast'], limit: 10, limits, now: T })
        expect(claimed.filter((job) => job.queue === 'slow')).toHaveLength(1)
        expect(claimed.filter((job) => job.queue === 'fast')).toHaveLength(4)
        await store.queuePause({ queue: 'slow', now: T })
        await store.jobFinishMany({ finishes: claimed.map((job) => ({ id: job.id, lease: job.lease, outcome: 'completed', result: 'null' })), now: T })
        expect(await claim(store, { queues: ['slow'], limit: 10, limits, now: T })).toHaveLength(0)
      })
    })

    describe('exclusions', () => {
      test("an excluded task's jobs stay queued and are passed over; the rest are claimed", async () => {
        const { store } = await setup()
        const blocked = Array.from({ length: 3 }, () => jobInsert({ task: 'flaky.call' }))
        const free = jobInsert({ task: 'other.task' })
        await store.jobInsertMany({ jobs: [...blocked, free], now: T })
        const claimed = await claim(store, { limit: 10, exclude: [{ task: 'flaky.call' }], now: T })
        expect(claimed.map((job) => job.id)).toEqual([free.id])
        for (const job of blocked) expect((await store.jobGet({ id: job.id }))?.state).toBe('queued')
        expect(await claim(store, { limit: 10, now: T })).toHaveLength(3)
      })

      test("an excluded group of a task is passed over; the task's other groups are not", async () => {
        const { store } = await setup()
        const blocked = jobInsert({ task: 'api.call', group: 'tenant-a' })
        const open = jobInsert({ task: 'api.call', group: 'tenant-b' })
        const plain = jobInsert({ task: 'api.call' })
        await store.jobInsertMany({ jobs: [blocked, open, plain], now: T })
        const exclude = [{ task: 'api.call', group: 'tenant-a' }]
        const claimed = await claim(store, { limit: 10, exclude, now: T })
        expect(claimed.map((job) => job.id).sort()).toEqual([open.id, plain.id].sort())
        // With limits too: the limited path honours exclusions the same way.
        await store.jobInsertMany({ jobs: [jobInsert({ task: 'api.call', group: 'tenant-c' })], now: T })
        const more = await claim(store, { limit: 10, exclude, limits: limited('default', { concurrency: 10 }), now: T })
        expect(more.map((job) => job.group)).toEqual(['tenant-c'])
      })
    })
  })
}

function claim(store: Store, params: Partial<JobClaimParams> & { limit: number; now: number }): Promise<ClaimedJob[]> {
  return store.jobClaim({ queues: ['default'], workerId: 'worker', leaseMs: 60_000, ...params })
}
