/**
 * Conformance for debounce and throttle (`jobDebounce`, `jobThrottle`): run by every store's test
 * file with its harness, like the main suite. Time is the `now` parameter; races are real
 * connections writing at once, awaited, never timed.
 */
import { describe, expect, test } from 'vitest'
import { isOffloadError } from '../../src/errors.js'
import type { JobInsertResult, Store, StoreNote } from '../../src/store/store.js'
import { databaseSetup, jobInsert, type StoreHarness } from './conformance.js'

const T = 1_700_000_000_000
const NOTE_TIMEOUT_MS = 10_000

export function describeEnqueueConformance(harness: StoreHarness): void {
  describe(`Store conformance, debounce and throttle: ${harness.name}`, () => {
    const setup = databaseSetup(harness)

    describe('debounce', () => {
      test('the first enqueue creates a scheduled job due after the delay, logged and counted', async () => {
        const { store } = await setup()
        const job = jobInsert()
        expect(await store.jobDebounce({ job, key: 'k', delayMs: 5000, now: T })).toEqual({ id: job.id, state: 'scheduled', existing: false })
        const stored = await store.jobGet({ id: job.id })
        expect({ state: stored?.state, runAt: stored?.runAt.getTime(), payload: stored?.payload }).toEqual({
          state: 'scheduled',
          runAt: T + 5000,
          payload: JSON.parse(job.payload),
        })
        expect((await store.eventList({ jobId: job.id, limit: 10 })).map((event) => event.type)).toEqual(['enqueued'])
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'scheduled', count: 1 }])
        expect(await store.jobNextDue()).toBe(T + 5000)
      })

      test('a later enqueue with the key replaces the waiting job’s payload and options and pushes its run time', async () => {
        const { store } = await setup()
        const first = jobInsert({ metadata: JSON.stringify({ v: 1 }), priority: 1 })
        await store.jobDebounce({ job: first, key: 'k', delayMs: 5000, now: T })
        const second = jobInsert({
          payload: JSON.stringify({ latest: true }),
          metadata: JSON.stringify({ v: 2 }),
          priority: 9,
          maxAttempts: 7,
          timeoutMs: 1234,
          backoff: { type: 'fixed', delay: 10, jitter: 0 },
        })
        expect(await store.jobDebounce({ job: second, key: 'k', delayMs: 5000, now: T + 3000 })).toEqual({
          id: first.id,
          state: 'scheduled',
          existing: true,
        })
        const stored = await store.jobGet({ id: first.id })
        expect(stored).toMatchObject({
          id: first.id,
          state: 'scheduled',
          payload: { latest: true },
          metadata: { v: 2 },
          priority: 9,
          maxAttempts: 7,
          timeoutMs: 1234,
          backoff: { type: 'fixed', delay: 10, jitter: 0 },
        })
        expect(stored?.runAt.getTime()).toBe(T + 8000)
        expect(stored?.createdAt.getTime()).toBe(T)
        expect(await store.jobGet({ id: second.id })).toBeUndefined()
        // No state change, no event; one job counted.
        expect((await store.eventList({ jobId: first.id, limit: 10 })).map((event) => event.type)).toEqual(['enqueued'])
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'scheduled', count: 1 }])
      })

      test('maxWait caps how far the run time moves; it is never brought forward', async () => {
        const { store } = await setup()
        const first = jobInsert()
        await store.jobDebounce({ job: first, key: 'k', delayMs: 5000, maxWaitMs: 8000, now: T })
        await store.jobDebounce({ job: jobInsert(), key: 'k', delayMs: 5000, maxWaitMs: 8000, now: T + 4000 })
        expect((await store.jobGet({ id: first.id }))?.runAt.getTime()).toBe(T + 8000)
        // A shorter delay would bring it forward: it stays.
        await store.jobDebounce({ job: jobInsert(), key: 'k', delayMs: 100, now: T + 5000 })
        expect((await store.jobGet({ id: first.id }))?.runAt.getTime()).toBe(T + 8000)
      })

      test('once the job is due, promoted, running or cancelled, the key starts a new job', async () => {
        const { store } = await setup()
        const first = jobInsert()
        await store.jobDebounce({ job: first, key: 'k', delayMs: 1000, now: T })
        // Due (its run time came) though not yet promoted: it no longer takes updates.
        const second = jobInsert()
        expect(await store.jobDebounce({ job: second, key: 'k', delayMs: 1000, now: T + 1000 })).toEqual({
          id: second.id,
          state: 'scheduled',
          existing: false,
        })
        expect((await store.jobGet({ id: first.id }))?.payload).toEqual(JSON.parse(first.payload))
        // Promoted and claimed: a new one again.
        expect(await store.jobPromote({ limit: 10, now: T + 2000 })).toBe(2)
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 60_000, now: T + 2000 })
        const third = jobInsert()
        expect((await store.jobDebounce({ job: third, key: 'k', delayMs: 1000, now: T + 2000 })).id).toBe(third.id)
        // Cancelled: a new one.
        await store.jobCancel({ id: third.id, now: T + 2100 })
        const fourth = jobInsert()
        expect((await store.jobDebounce({ job: fourth, key: 'k', delayMs: 1000, now: T + 2200 })).id).toBe(fourth.id)
        expect(await store.jobCounts()).toEqual([
          { queue: 'default', state: 'cancelled', count: 1 },
          { queue: 'default', state: 'running', count: 2 },
          { queue: 'default', state: 'scheduled', count: 1 },
        ])
      })

      test('keys are per task, and a snoozed job (it ran before) takes no updates', async () => {
        const { store } = await setup()
        const a = jobInsert({ task: 'a' })
        const b = jobInsert({ task: 'b' })
        await store.jobDebounce({ job: a, key: 'k', delayMs: 1000, now: T })
        expect((await store.jobDebounce({ job: b, key: 'k', delayMs: 1000, now: T })).id).toBe(b.id)
        await store.jobPromote({ limit: 10, now: T + 1000 })
        const [claimed] = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 60_000, now: T + 1000 })
        await store.jobFinishMany({ finishes: [{ id: claimed!.id, lease: claimed!.lease, outcome: 'snoozed', delayMs: 60_000 }], now: T + 1000 })
        expect((await store.jobGet({ id: claimed!.id }))?.state).toBe('scheduled')
        const next = jobInsert({ task: claimed!.task })
        expect((await store.jobDebounce({ job: next, key: 'k', delayMs: 1000, now: T + 2000 })).id).toBe(next.id)
      })

      test('a new debounced job is announced as due, to this connection and others', async () => {
        const { store, open } = await setup()
        const other = await listening(store, await open())
        const here = nextNote(store, (note) => note.kind === 'due')
        const there = other && nextNote(other, (note) => note.kind === 'due' || note.kind === 'changed')
        await store.jobDebounce({ job: jobInsert(), key: 'k', delayMs: 5000, now: T })
        expect(await here).toEqual({ kind: 'due', runAt: T + 5000 })
        await there
      })

      test('producers racing on one key from several connections make exactly one job, holding one of their payloads', async () => {
        const { store, open } = await setup()
        const connections = [store, await open(), await open()]
        const jobs = connections.flatMap(() => [jobInsert(), jobInsert()])
        const results = await Promise.all(jobs.map((job, i) => connections[i % connections.length]!.jobDebounce({ job, key: 'race', delayMs: 60_000 })))
        const ids = new Set(results.map((result) => result.id))
        expect(ids.size).toBe(1)
        expect(results.filter((result) => !result.existing)).toHaveLength(1)
        const [winner] = ids
        const stored = await store.jobGet({ id: winner! })
        expect(jobs.map((job) => JSON.parse(job.payload))).toContainEqual(stored?.payload)
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'scheduled', count: 1 }])
      })
    })

    describe('throttle', () => {
      test('within the window an enqueue returns the window’s job; after it, a new job opens a new window', async () => {
        const { store } = await setup()
        const first = jobInsert()
        expect(await store.jobThrottle({ job: first, key: 'k', windowMs: 10_000, now: T })).toEqual({ id: first.id, state: 'queued', existing: false })
        const second = jobInsert()
        expect(await store.jobThrottle({ job: second, key: 'k', windowMs: 10_000, now: T + 9999 })).toEqual({ id: first.id, state: 'queued', existing: true })
        expect(await store.jobGet({ id: second.id })).toBeUndefined()
        // The holder's current state comes back.
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 60_000, now: T + 5000 })
        expect(await store.jobThrottle({ job: jobInsert(), key: 'k', windowMs: 10_000, now: T + 6000 })).toEqual({
          id: first.id,
          state: 'running',
          existing: true,
        })
        const third = jobInsert()
        expect(await store.jobThrottle({ job: third, key: 'k', windowMs: 10_000, now: T + 10_000 })).toEqual({ id: third.id, state: 'queued', existing: false })
        expect(await store.jobThrottle({ job: jobInsert(), key: 'k', windowMs: 10_000, now: T + 15_000 })).toMatchObject({ id: third.id, existing: true })
        expect((await store.eventList({ jobId: third.id, limit: 10 })).map((event) => event.type)).toEqual(['enqueued'])
        expect(await store.jobCounts()).toEqual([
          { queue: 'default', state: 'queued', count: 1 },
          { queue: 'default', state: 'running', count: 1 },
        ])
      })

      test('a delayed job is scheduled; keys are per task; a deleted job frees its window', async () => {
        const { store } = await setup()
        const delayed = jobInsert({ delayMs: 2000 })
        expect(await store.jobThrottle({ job: delayed, key: 'k', windowMs: 60_000, now: T })).toEqual({ id: delayed.id, state: 'scheduled', existing: false })
        const other = jobInsert({ task: 'other' })
        expect((await store.jobThrottle({ job: other, key: 'k', windowMs: 60_000, now: T })).id).toBe(other.id)
        await store.jobCancel({ id: delayed.id, now: T + 1 })
        await store.jobDelete({ id: delayed.id })
        const next = jobInsert()
        expect(await store.jobThrottle({ job: next, key: 'k', windowMs: 60_000, now: T + 2 })).toEqual({ id: next.id, state: 'queued', existing: false })
      })

      test('prune forgets ended windows and leaves open ones', async () => {
        const { store } = await setup()
        const first = jobInsert()
        await store.jobThrottle({ job: first, key: 'open', windowMs: 60_000, now: T })
        await store.jobThrottle({ job: jobInsert(), key: 'ended', windowMs: 1000, now: T })
        await store.jobDebounce({ job: jobInsert(), key: 'd', delayMs: 60_000, now: T })
        await store.jobPrune({ olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 100, now: T + 2000 })
        expect(await store.jobThrottle({ job: jobInsert(), key: 'open', windowMs: 60_000, now: T + 3000 })).toMatchObject({ id: first.id, existing: true })
        const fresh = jobInsert()
        expect(await store.jobThrottle({ job: fresh, key: 'ended', windowMs: 1000, now: T + 3000 })).toMatchObject({ id: fresh.id, existing: false })
        expect(await store.jobDebounce({ job: jobInsert(), key: 'd', delayMs: 60_000, now: T + 3000 })).toMatchObject({ existing: true })
      })

      test('a full queue refuses the job with QueueFullError and writes nothing, window included', async () => {
        const { store } = await setup()
        const maxQueued = new Map([['default', 1]])
        await store.jobInsertMany({ jobs: [jobInsert()], now: T })
        const refused = await store.jobThrottle({ job: jobInsert(), key: 'k', windowMs: 60_000, maxQueued, now: T }).then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(isOffloadError(refused, 'QUEUE_FULL')).toBe(true)
        expect((refused as { details: unknown }).details).toEqual({ queue: 'default', limit: 1, queued: 1 })
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'queued', count: 1 }])
        // The window did not open: a retry with room creates the job.
        const retry = jobInsert()
        expect(await store.jobThrottle({ job: retry, key: 'k', windowMs: 60_000, maxQueued: new Map([['default', 2]]), now: T })).toMatchObject({
          id: retry.id,
          existing: false,
        })
        // A scheduled job does not count against the cap.
        const later = jobInsert({ delayMs: 5000 })
        expect(await store.jobThrottle({ job: later, key: 'later', windowMs: 60_000, maxQueued, now: T })).toMatchObject({ state: 'scheduled' })
      })

      test('a new queued job wakes workers with a ready note', async () => {
        const { store, open } = await setup()
        const other = await listening(store, await open())
        const here = nextNote(store, (note) => note.kind === 'ready' && note.queue === 'throttled')
        const there = other && nextNote(other, (note) => (note.kind === 'ready' && note.queue === 'throttled') || note.kind === 'changed')
        await store.jobThrottle({ job: jobInsert({ queue: 'throttled' }), key: 'k', windowMs: 1000 })
        await Promise.all([here, there])
      })

      test('producers racing on one key from several connections make exactly one job', async () => {
        const { store, open } = await setup()
        const connections = [store, await open(), await open()]
        const jobs = connections.flatMap(() => [jobInsert(), jobInsert(), jobInsert()])
        const results: JobInsertResult[] = await Promise.all(
          jobs.map((job, i) => connections[i % connections.length]!.jobThrottle({ job, key: 'race', windowMs: 60_000 })),
        )
        expect(new Set(results.map((result) => result.id)).size).toBe(1)
        expect(results.filter((result) => !result.existing)).toHaveLength(1)
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'queued', count: 1 }])
      })
    })
  })
}

/**
 * `other` once it hears `store`'s writes (a warm-up write heard), so what it hears next is the
 * test's; undefined for a store that does not promise cross-connection notes.
 */
async function listening(store: Store, other: Store): Promise<Store | undefined> {
  if (!other.capabilities.listen) return undefined
  const heard = nextNote(other, () => true)
  await store.jobInsertMany({ jobs: [jobInsert({ queue: 'warm-up' })], now: T })
  await heard
  return other
}

/** The next note matching `match` that `store` hears; fails the test after a generous wait. */
function nextNote(store: Store, match: (note: StoreNote) => boolean): Promise<StoreNote> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unlisten()
      reject(new Error('no matching note'))
    }, NOTE_TIMEOUT_MS)
    const unlisten = store.listen((note) => {
      if (!match(note)) return
      clearTimeout(timer)
      unlisten()
      resolve(note)
    })
  })
}
