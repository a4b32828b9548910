/**
 * The one conformance suite every Store runs. It speaks only the `Store` interface: no store type,
 * no SQL, no file paths. A store's test file supplies a harness that makes empty databases and
 * opens connections to them; everything else is here, so a new store passes exactly the tests the
 * others pass.
 *
 * Time is the `now` parameter: a test claims at `T` with a 1 s lease and rescues at `T + 2000`
 * rather than sleeping. Tests that involve real concurrency (parallel claimers, key races, a
 * follower of the event log) wait on promises and never assert on timing. Each test has its own
 * database, so files may run in parallel.
 */
import { afterEach, describe, expect, test, type TestContext } from 'vitest'
import { isOffloadError, QueueFullError, type OffloadError, type OffloadErrorCode } from '../../src/errors.js'
import { errorFingerprint } from '../../src/fingerprint.js'
import { uuidv7 } from '../../src/ids.js'
import type { JobEvent, JobInfo, JobState } from '../../src/job.js'
import { WORKER_FORGET_MS } from '../../src/store/store.js'
import type {
  ClaimedJob,
  FinishError,
  JobFinish,
  JobInsert,
  JobInsertResult,
  JobRecord,
  JobRecordEvent,
  Store,
  StoreNote,
  WebhookDeliveryPayload,
  WebhookDeliveryTemplate,
  WorkerBeatParams,
} from '../../src/store/store.js'

/** One test's database. */
export interface StoreDatabase {
  /** Another connection to the database, as another process would open it. Not yet closed by anyone. */
  open(): Promise<Store>
  /** Drops the database. Every connection opened on it is closed first. */
  destroy(): Promise<void>
}

export interface StoreHarness {
  name: string
  /**
   * A fresh, empty database for one test, migrated unless `migrated: false` (the migration tests
   * need one that is not).
   */
  createDatabase(options?: { migrated?: boolean }): Promise<StoreDatabase>
  /** Tests this store cannot run, each with its reason (should be almost none). Names as declared. */
  skip?: { reason: string; tests: string[] }[]
}

/** The suite's clock: every time-dependent call passes `now` relative to this. */
const T = 1_700_000_000_000
/** How long a test waits for a note before it fails. Generous: notes are not a latency test. */
const NOTE_TIMEOUT_MS = 10_000

export function describeStoreConformance(harness: StoreHarness): void {
  describe(`Store conformance: ${harness.name}`, () => {
    const setup = databaseSetup(harness)

    const it = conformanceTest(harness)

    // ─── Enqueue ──────────────────────────────────────────────────────────────────────────────

    describe('enqueue', () => {
      it('inserts a batch and returns one result per job, in input order', async () => {
        const { store } = await setup()
        const jobs = [jobInsert(), jobInsert({ runAt: T + 1000 }), jobInsert()]
        const results = await store.jobInsertMany({ jobs, now: T })
        expect(results).toEqual([
          { id: jobs[0]!.id, state: 'queued', existing: false },
          { id: jobs[1]!.id, state: 'scheduled', existing: false },
          { id: jobs[2]!.id, state: 'queued', existing: false },
        ])
        // Inserted in order: listing is newest first.
        expect((await store.jobList({ limit: 10 })).map((job) => job.id)).toEqual(jobs.map((job) => job.id).reverse())
      })

      it('an empty batch returns no results', async () => {
        const { store } = await setup()
        expect(await store.jobInsertMany({ jobs: [], now: T })).toEqual([])
      })

      it('a job due now is queued; a later runAt or a delay makes it scheduled', async () => {
        const { store } = await setup()
        const cases: [JobInsert, JobState, number][] = [
          [jobInsert(), 'queued', T],
          [jobInsert({ runAt: T }), 'queued', T],
          [jobInsert({ runAt: T - 5000 }), 'queued', T - 5000],
          [jobInsert({ delayMs: 0 }), 'queued', T],
          [jobInsert({ runAt: T + 1 }), 'scheduled', T + 1],
          [jobInsert({ delayMs: 2500 }), 'scheduled', T + 2500],
        ]
        const results = await store.jobInsertMany({ jobs: cases.map(([job]) => job), now: T })
        expect(results.map((result) => result.state)).toEqual(cases.map(([, state]) => state))
        for (const [job, state, runAt] of cases) {
          const stored = await store.jobGet({ id: job.id })
          expect({ state: stored?.state, runAt: stored?.runAt.getTime() }).toEqual({ state, runAt })
        }
      })

      it('every field round-trips through jobGet', async () => {
        const { store } = await setup()
        const full = jobInsert({
          task: 'mail.send',
          queue: 'mail',
          payload: JSON.stringify({ to: 'a@example.com', tags: ['x', 'y'], n: 1.5, nested: { ok: true, none: null } }),
          metadata: JSON.stringify({ tenant: 'acme', trace: { id: 'abc' } }),
          priority: 7,
          maxAttempts: 4,
          runAt: T + 5000,
          timeoutMs: 30_000,
          backoff: { type: 'exponential', base: 1000, factor: 2, max: 60_000, jitter: 0.5 },
          key: 'mail:42',
          keyTtlMs: 60_000,
          webhook: 'https://example.com/hooks/mail?sig=1',
        })
        const bare = jobInsert({ payload: '"just a string"', backoff: { type: 'fixed', delay: 250, jitter: 0 } })
        await store.jobInsertMany({ jobs: [full, bare], now: T })

        const got = await store.jobGet({ id: full.id })
        expect(got).toEqual({
          id: full.id,
          task: 'mail.send',
          queue: 'mail',
          state: 'scheduled',
          payload: { to: 'a@example.com', tags: ['x', 'y'], n: 1.5, nested: { ok: true, none: null } },
          metadata: { tenant: 'acme', trace: { id: 'abc' } },
          priority: 7,
          attempt: 0,
          maxAttempts: 4,
          runAt: new Date(T + 5000),
          createdAt: new Date(T),
          errors: [],
          key: 'mail:42',
          timeoutMs: 30_000,
          backoff: { type: 'exponential', base: 1000, factor: 2, max: 60_000, jitter: 0.5 },
          webhook: 'https://example.com/hooks/mail?sig=1',
        })
        for (const absent of ['result', 'startedAt', 'finishedAt', 'progress', 'workerId', 'leaseExpiresAt'] as const) {
          expect(got?.[absent], absent).toBeUndefined()
        }

        const plain = await store.jobGet({ id: bare.id })
        expect(plain).toMatchObject({ state: 'queued', payload: 'just a string', metadata: {}, priority: 0, maxAttempts: 3 })
        expect(plain?.backoff).toEqual({ type: 'fixed', delay: 250, jitter: 0 })
        expect(plain?.key).toBeUndefined()
        expect(plain?.timeoutMs).toBeUndefined()
        expect(plain?.webhook).toBeUndefined()
      })

      it('jobGet of an unknown id is undefined', async () => {
        const { store } = await setup()
        expect(await store.jobGet({ id: uuidv7() })).toBeUndefined()
      })

      it('writes an enqueued event in the state the job starts in', async () => {
        const { store } = await setup()
        const now = jobInsert({ task: 'a.task', queue: 'q1' })
        const later = jobInsert({ delayMs: 1000 })
        await store.jobInsertMany({ jobs: [now, later], now: T })
        expect(await store.eventList({ jobId: now.id, limit: 10 })).toEqual([
          expect.objectContaining({ jobId: now.id, task: 'a.task', queue: 'q1', type: 'enqueued', state: 'queued', attempt: 0, at: new Date(T) }),
        ])
        expect(await timeline(store, later.id)).toEqual([['enqueued', 'scheduled', 0]])
      })

      // A legitimate store-level failure: a job id that is not unique. (Ids are UUIDv7s made by the
      // runtime, so this is a caller bug, but it is the one failure every store must detect.)
      it('a batch with a duplicate id is rejected whole: nothing written, no key taken', async () => {
        const { store } = await setup()
        const first = jobInsert({ key: 'k1' })
        const batch = [first, jobInsert({ key: 'k2' }), jobInsert({ id: first.id })]
        await expectCode(() => store.jobInsertMany({ jobs: batch, now: T }), 'JOB_EXISTS')
        expect(await store.jobList({ limit: 10 })).toEqual([])
        expect(await store.eventList({ limit: 10 })).toEqual([])
        // The keys the batch took before it failed were rolled back with it.
        const again = await store.jobInsertMany({ jobs: [jobInsert({ key: 'k1' }), jobInsert({ key: 'k2' })], now: T })
        expect(again.map((result) => result.existing)).toEqual([false, false])
      })

      it('a batch reusing a stored id is rejected whole and leaves the stored job alone', async () => {
        const { store } = await setup()
        const stored = jobInsert({ payload: '"original"' })
        await store.jobInsertMany({ jobs: [stored], now: T })
        const fresh = jobInsert()
        await expectCode(
          () => store.jobInsertMany({ jobs: [fresh, jobInsert({ id: stored.id, payload: '"impostor"' })], now: T + 10 }),
          'JOB_EXISTS',
        )
        expect(await store.jobGet({ id: fresh.id })).toBeUndefined()
        expect(await store.jobGet({ id: stored.id })).toMatchObject({ payload: 'original', createdAt: new Date(T) })
        expect(await timeline(store, stored.id)).toEqual([['enqueued', 'queued', 0]])
      })

      it('a rejected batch does not affect writes made at the same time', async () => {
        const { store } = await setup()
        const dup = jobInsert()
        const good = jobInsert()
        const [bad, ok] = await Promise.allSettled([
          store.jobInsertMany({ jobs: [dup, jobInsert({ id: dup.id })], now: T }),
          store.jobInsertMany({ jobs: [good], now: T }),
        ])
        expect(bad.status).toBe('rejected')
        expect(ok.status).toBe('fulfilled')
        expect((await store.jobList({ limit: 10 })).map((job) => job.id)).toEqual([good.id])
      })

      // A store may write concurrent calls together (one transaction for many callers); each
      // caller must still get what it would have got alone, without `now` as with it.
      it('concurrent calls each get their own answer: a bad one fails alone, keys go to one holder', async () => {
        const { store } = await setup()
        const stored = jobInsert()
        await store.jobInsertMany({ jobs: [stored] })
        const twice = jobInsert()
        const calls = [
          ...Array.from({ length: 20 }, (_, i) => [jobInsert({ key: `k${i % 5}` })]),
          [jobInsert(), jobInsert({ id: stored.id })],
          [twice],
          [jobInsert({ id: twice.id })],
          ...Array.from({ length: 20 }, () => [jobInsert(), jobInsert()]),
        ]
        const settled = await Promise.allSettled(calls.map((jobs) => store.jobInsertMany({ jobs })))
        const failed = settled.flatMap((outcome, i) => (outcome.status === 'rejected' ? [i] : []))
        // The call reusing a stored id, and one of the two calls sharing an id: never both, never a third.
        expect(failed).toContain(20)
        expect(failed.filter((i) => i === 21 || i === 22)).toHaveLength(1)
        expect(failed).toHaveLength(2)
        for (const i of failed) expect(isOffloadError((settled[i] as PromiseRejectedResult).reason, 'JOB_EXISTS')).toBe(true)
        const written = new Set((await store.jobList({ limit: 1000 })).map((job) => job.id))
        // 1 stored + 5 key holders + 1 of the shared id + 40 plain jobs.
        expect(written.size).toBe(1 + 5 + 1 + 40)
        const holders = new Map<string, string>()
        calls.slice(0, 20).forEach((jobs, i) => {
          const [result] = (settled[i] as PromiseFulfilledResult<JobInsertResult[]>).value
          const key = jobs[0]!.key!
          if (!result!.existing) {
            expect(holders.has(key)).toBe(false)
            holders.set(key, result!.id)
          }
        })
        expect(holders.size).toBe(5)
        calls.slice(0, 20).forEach((jobs, i) => {
          const [result] = (settled[i] as PromiseFulfilledResult<JobInsertResult[]>).value
          expect(result!.id).toBe(holders.get(jobs[0]!.key!))
          expect(written.has(result!.id)).toBe(true)
        })
        for (const i of [...Array.from({ length: 20 }, (_, n) => 23 + n)]) {
          const results = (settled[i] as PromiseFulfilledResult<JobInsertResult[]>).value
          expect(results.map((result) => result.id)).toEqual(calls[i]!.map((job) => job.id))
          for (const result of results) expect(written.has(result.id)).toBe(true)
        }
        expect(written.has(calls[20]![0]!.id)).toBe(false)
      })
    })

    // ─── Idempotency keys ─────────────────────────────────────────────────────────────────────

    describe('idempotency keys', () => {
      it('an insert with a held key returns the holder and creates nothing', async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'order:1' })
        await store.jobInsertMany({ jobs: [holder], now: T })
        const second = jobInsert({ key: 'order:1', payload: '"other"' })
        expect(await store.jobInsertMany({ jobs: [second], now: T + 10 })).toEqual([{ id: holder.id, state: 'queued', existing: true }])
        expect(await store.jobGet({ id: second.id })).toBeUndefined()
        expect((await store.jobList({ limit: 10 })).map((job) => job.id)).toEqual([holder.id])
        expect(await store.eventList({ limit: 10 })).toHaveLength(1)
      })

      it("the existing result reports the holder's state now", async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'k', runAt: T + 1000 })
        await store.jobInsertMany({ jobs: [holder], now: T })
        const again = async (now: number): Promise<JobInsertResult> => (await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now }))[0]!
        expect(await again(T)).toEqual({ id: holder.id, state: 'scheduled', existing: true })
        await store.jobPromote({ limit: 10, now: T + 1000 })
        await claimOne(store, T + 1000)
        expect(await again(T + 1001)).toEqual({ id: holder.id, state: 'running', existing: true })
      })

      it('keys are per task: the same key on another task makes a new job', async () => {
        const { store } = await setup()
        const results = await store.jobInsertMany({
          jobs: [jobInsert({ task: 'a', key: 'same' }), jobInsert({ task: 'b', key: 'same' })],
          now: T,
        })
        expect(results.map((result) => result.existing)).toEqual([false, false])
        expect(await store.jobList({ limit: 10 })).toHaveLength(2)
      })

      it('two jobs with one key in a batch: the second returns the first', async () => {
        const { store } = await setup()
        const a = jobInsert({ key: 'k1' })
        const b = jobInsert({ key: 'k1' })
        const c = jobInsert({ key: 'k2' })
        expect(await store.jobInsertMany({ jobs: [a, b, c], now: T })).toEqual([
          { id: a.id, state: 'queued', existing: false },
          { id: a.id, state: 'queued', existing: true },
          { id: c.id, state: 'queued', existing: false },
        ])
        expect(await store.jobList({ limit: 10 })).toHaveLength(2)
      })

      it('the key stays held while the job is retrying', async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'k' })
        await store.jobInsertMany({ jobs: [holder], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'retry', error: boom(), delayMs: 1000 }, T + 1)
        expect((await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 2 }))[0]).toEqual({
          id: holder.id,
          state: 'retrying',
          existing: true,
        })
      })

      for (const ending of ['completed', 'failed', 'cancelled', 'failed by rescue'] as const) {
        it(`without a TTL the key frees as soon as its job is ${ending}`, async () => {
          const { store } = await setup()
          const holder = jobInsert({ key: 'k', maxAttempts: 1 })
          await store.jobInsertMany({ jobs: [holder], now: T })
          const claimed = await claimOne(store, T)
          if (ending === 'completed') await finish(store, { ...ref(claimed), outcome: 'completed', result: 'null' }, T + 1)
          if (ending === 'failed') await finish(store, { ...ref(claimed), outcome: 'failed', error: boom() }, T + 1)
          if (ending === 'cancelled') await store.jobCancel({ id: holder.id, now: T + 1 })
          if (ending === 'failed by rescue') expect(await store.jobRescue({ limit: 10, now: T + 5000 })).toBe(1)
          const next = jobInsert({ key: 'k' })
          expect(await store.jobInsertMany({ jobs: [next], now: T + 6000 })).toEqual([{ id: next.id, state: 'queued', existing: false }])
        })
      }

      it('with keyTtlMs the key stays held that long after the job finished', async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'k', keyTtlMs: 5000 })
        await store.jobInsertMany({ jobs: [holder], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'completed', result: '1' }, T + 100)
        expect(await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 5099 })).toEqual([
          { id: holder.id, state: 'completed', existing: true },
        ])
        const after = jobInsert({ key: 'k' })
        expect(await store.jobInsertMany({ jobs: [after], now: T + 5101 })).toEqual([{ id: after.id, state: 'queued', existing: false }])
      })

      it('concurrent inserts of one key from many connections create exactly one job', async () => {
        const { store, open } = await setup()
        const connections = [store, ...(await Promise.all(Array.from({ length: 7 }, () => open())))]
        const candidates = connections.map(() => jobInsert({ key: 'race' }))
        const results = (await Promise.all(connections.map((connection, i) => connection.jobInsertMany({ jobs: [candidates[i]!], now: T })))).flat()
        const winner = results.find((result) => !result.existing)
        expect(winner).toBeDefined()
        expect(results.filter((result) => !result.existing)).toHaveLength(1)
        for (const result of results) expect(result.id).toBe(winner!.id)
        expect((await store.jobList({ limit: 100 })).map((job) => job.id)).toEqual([winner!.id])
      })

      it('concurrent batches with overlapping keys create one job per key', async () => {
        const { store, open } = await setup()
        const connections = [store, ...(await Promise.all(Array.from({ length: 5 }, () => open())))]
        const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`)
        // Each connection inserts every key, in its own rotation, in batches of ten.
        const results = await Promise.all(
          connections.map(async (connection, c) => {
            const mine = keys.slice(c * 5).concat(keys.slice(0, c * 5))
            const out: { key: string; result: JobInsertResult }[] = []
            for (let i = 0; i < mine.length; i += 10) {
              const batch = mine.slice(i, i + 10)
              const inserted = await connection.jobInsertMany({ jobs: batch.map((key) => jobInsert({ key })), now: T })
              inserted.forEach((result, j) => out.push({ key: batch[j]!, result }))
            }
            return out
          }),
        )
        const jobs = await store.jobList({ limit: 1000 })
        expect(jobs).toHaveLength(keys.length)
        const holderOf = new Map(jobs.map((job) => [job.key!, job.id]))
        for (const { key, result } of results.flat()) expect(result.id).toBe(holderOf.get(key))
        expect(results.flat().filter(({ result }) => !result.existing)).toHaveLength(keys.length)
      })
    })

    // ─── Claim ────────────────────────────────────────────────────────────────────────────────

    describe('claim', () => {
      it('parallel claimers on several connections take every job exactly once', async () => {
        const { store, open } = await setup()
        const total = 2000
        for (let i = 0; i < total; i += 500) {
          await store.jobInsertMany({ jobs: Array.from({ length: 500 }, () => jobInsert()), now: T })
        }
        const connections = [store, ...(await Promise.all(Array.from({ length: 3 }, () => open())))]
        const claimedBy = await Promise.all(
          connections.map(async (connection, c) => {
            const mine: ClaimedJob[] = []
            // Two claimers per connection, so claims also race within one connection.
            await Promise.all(
              [0, 1].map(async (k) => {
                while (true) {
                  const batch = await connection.jobClaim({ queues: ['default'], workerId: `w${c}.${k}`, limit: 25, leaseMs: 60_000, now: T })
                  if (batch.length === 0) return
                  mine.push(...batch)
                  const applied = await connection.jobFinishMany({
                    finishes: batch.map((job) => ({ ...ref(job), outcome: 'completed', result: 'true' })),
                    now: T,
                  })
                  expect(applied.every(Boolean)).toBe(true)
                }
              }),
            )
            return mine
          }),
        )
        const ids = claimedBy.flat().map((job) => job.id)
        expect(ids).toHaveLength(total)
        expect(new Set(ids).size).toBe(total)
        expect(await store.jobCounts()).toEqual([{ queue: 'default', state: 'completed', count: total }])
        // More than one connection did real work (otherwise the test proved nothing about races).
        expect(claimedBy.filter((jobs) => jobs.length > 0).length).toBeGreaterThan(1)
      })

      it('claims higher priority first, then earlier runAt, then insertion order', async () => {
        const { store } = await setup()
        const low = jobInsert({ priority: -1 })
        const firstIn = jobInsert()
        const secondIn = jobInsert()
        const earlierRunAt = jobInsert({ runAt: T - 2000 })
        const earliestRunAt = jobInsert({ runAt: T - 3000 })
        const high = jobInsert({ priority: 10 })
        const higher = jobInsert({ priority: 20, runAt: T - 1 })
        await store.jobInsertMany({ jobs: [low, firstIn, secondIn, earlierRunAt, earliestRunAt, high, higher], now: T })
        const order = [higher, high, earliestRunAt, earlierRunAt, firstIn, secondIn, low].map((job) => job.id)
        const claimed: string[] = []
        for (const limit of [1, 2, 4]) {
          const batch = await store.jobClaim({ queues: ['default'], workerId: 'w', limit, leaseMs: 1000, now: T })
          claimed.push(...batch.map((job) => job.id))
        }
        expect(claimed).toEqual(order)
      })

      it('a batch comes back in claim order', async () => {
        const { store } = await setup()
        const jobs = [jobInsert({ priority: 1 }), jobInsert({ priority: 3 }), jobInsert({ priority: 2 })]
        await store.jobInsertMany({ jobs, now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now: T })
        expect(claimed.map((job) => job.priority)).toEqual([3, 2, 1])
      })

      it('claims only from the requested queues', async () => {
        const { store } = await setup()
        const mine = jobInsert({ queue: 'mine' })
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'other', priority: 100 }), mine], now: T })
        const claimed = await store.jobClaim({ queues: ['mine'], workerId: 'w', limit: 10, leaseMs: 1000, now: T })
        expect(claimed.map((job) => job.id)).toEqual([mine.id])
        expect(await store.jobClaim({ queues: ['nothing-here'], workerId: 'w', limit: 10, leaseMs: 1000, now: T })).toEqual([])
      })

      it('a claim over several queues follows one order across them', async () => {
        const { store } = await setup()
        const a0 = jobInsert({ queue: 'a', priority: 0 })
        const b5 = jobInsert({ queue: 'b', priority: 5 })
        const a5old = jobInsert({ queue: 'a', priority: 5, runAt: T - 100 })
        const c9 = jobInsert({ queue: 'c', priority: 9 })
        const b0 = jobInsert({ queue: 'b', priority: 0 })
        await store.jobInsertMany({ jobs: [a0, b5, a5old, c9, b0], now: T })
        const claimed: string[] = []
        for (let i = 0; i < 5; i++) {
          const [job] = await store.jobClaim({ queues: ['a', 'b'], workerId: 'w', limit: 1, leaseMs: 1000, now: T })
          if (job !== undefined) claimed.push(job.id)
        }
        expect(claimed).toEqual([a5old.id, b5.id, a0.id, b0.id])
        expect((await store.jobGet({ id: c9.id }))?.state).toBe('queued')
      })

      it('returns at most limit jobs', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: Array.from({ length: 10 }, () => jobInsert()), now: T })
        const claim = (limit: number) => store.jobClaim({ queues: ['default'], workerId: 'w', limit, leaseMs: 1000, now: T })
        expect(await claim(3)).toHaveLength(3)
        expect(await claim(4)).toHaveLength(4)
        expect(await claim(100)).toHaveLength(3)
        expect(await claim(100)).toHaveLength(0)
      })

      it('scheduled jobs are not claimed until promoted', async () => {
        const { store } = await setup()
        const later = jobInsert({ runAt: T + 1000 })
        await store.jobInsertMany({ jobs: [later], now: T })
        const claim = (now: number) => store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now })
        expect(await claim(T)).toEqual([])
        // Even with the run time past: claiming is of `queued` jobs only; promotion moves them.
        expect(await claim(T + 5000)).toEqual([])
        expect(await store.jobPromote({ limit: 10, now: T + 1000 })).toBe(1)
        expect((await claim(T + 1000)).map((job) => job.id)).toEqual([later.id])
      })

      it('a claim starts the next attempt under a lease and writes a started event', async () => {
        const { store } = await setup()
        const job = jobInsert({
          task: 't.x',
          queue: 'q',
          payload: JSON.stringify({ a: [1, 2] }),
          metadata: JSON.stringify({ m: 1 }),
          priority: 4,
          maxAttempts: 5,
          timeoutMs: 9000,
          backoff: { type: 'fixed', delay: 100, jitter: 0 },
          key: 'k',
        })
        await store.jobInsertMany({ jobs: [job], now: T - 10 })
        const [claimed] = await store.jobClaim({ queues: ['q'], workerId: 'worker-1', limit: 1, leaseMs: 1500, now: T })
        expect(claimed).toEqual({
          id: job.id,
          task: 't.x',
          queue: 'q',
          payload: { a: [1, 2] },
          metadata: { m: 1 },
          priority: 4,
          attempt: 1,
          maxAttempts: 5,
          lease: expect.any(Number),
          timeoutMs: 9000,
          backoff: { type: 'fixed', delay: 100, jitter: 0 },
          key: 'k',
          createdAt: new Date(T - 10),
          runAt: new Date(T - 10),
        })
        expect(await store.jobGet({ id: job.id })).toMatchObject({
          state: 'running',
          attempt: 1,
          workerId: 'worker-1',
          startedAt: new Date(T),
          leaseExpiresAt: new Date(T + 1500),
        })
        const events = await store.eventList({ jobId: job.id, limit: 10 })
        expect(events.map((event) => [event.type, event.state, event.attempt])).toEqual([
          ['enqueued', 'queued', 0],
          ['started', 'running', 1],
        ])
        expect(events[1]).toMatchObject({ at: new Date(T), data: { workerId: 'worker-1' } })
      })

      it('the lease token grows on every claim of a job', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 10 })
        await store.jobInsertMany({ jobs: [job], now: T })
        const leases: number[] = []
        const attempts: number[] = []
        let now = T
        const claim = async (): Promise<ClaimedJob> => {
          const claimed = await claimOne(store, now)
          leases.push(claimed.lease)
          attempts.push(claimed.attempt)
          return claimed
        }
        // released (attempt given back), rescued, cancelled and retried (attempts reset): the
        // attempt number repeats, the lease never does.
        await finish(store, { ...ref(await claim()), outcome: 'released' }, now)
        await claim()
        now += 5000
        await store.jobRescue({ limit: 10, now })
        await claim()
        await store.jobCancel({ id: job.id, now })
        await store.jobRetry({ id: job.id, now })
        await claim()
        expect(attempts).toEqual([1, 1, 2, 1])
        for (let i = 1; i < leases.length; i++) expect(leases[i]).toBeGreaterThan(leases[i - 1]!)
      })

      it('claim on an empty store returns nothing', async () => {
        const { store } = await setup()
        expect(await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now: T })).toEqual([])
      })
    })

    // ─── Leases, heartbeats, rescue, fencing ──────────────────────────────────────────────────

    describe('leases, heartbeats, rescue and fencing', () => {
      it('a heartbeat extends the lease past its first expiry', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T, 1000) // expires at T + 1000
        expect(await store.jobHeartbeat({ leases: [ref(claimed)], leaseMs: 1000, now: T + 800 })).toEqual([]) // → T + 1800
        expect((await store.jobGet({ id: job.id }))?.leaseExpiresAt).toEqual(new Date(T + 1800))
        expect(await store.jobRescue({ limit: 10, now: T + 1500 })).toBe(0)
        expect((await store.jobGet({ id: job.id }))?.state).toBe('running')
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
      })

      it('rescue returns an expired job to queued, keeping its attempt, with a LeaseExpired error', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 3 })
        await store.jobInsertMany({ jobs: [job], now: T })
        await claimOne(store, T, 1000)
        expect(await store.jobRescue({ limit: 10, now: T + 999 })).toBe(0)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
        const rescued = await store.jobGet({ id: job.id })
        expect(rescued).toMatchObject({ state: 'queued', attempt: 1 })
        expect(rescued?.workerId).toBeUndefined()
        expect(rescued?.leaseExpiresAt).toBeUndefined()
        expect(rescued?.finishedAt).toBeUndefined()
        expect(rescued?.errors).toEqual([expect.objectContaining({ attempt: 1, at: new Date(T + 2000), name: 'LeaseExpired' })])
        expect(rescued?.errors[0]?.message).toEqual(expect.any(String))
        const events = await store.eventList({ jobId: job.id, limit: 10 })
        expect(events.at(-1)).toMatchObject({ type: 'rescued', state: 'queued', attempt: 1, at: new Date(T + 2000), data: { error: { name: 'LeaseExpired' } } })
        // And it runs again as the next attempt.
        expect((await claimOne(store, T + 2000)).attempt).toBe(2)
      })

      it('rescue fails an expired job that has no attempts left', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 1 })
        await store.jobInsertMany({ jobs: [job], now: T })
        await claimOne(store, T, 1000)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
        expect(await store.jobGet({ id: job.id })).toMatchObject({
          state: 'failed',
          attempt: 1,
          finishedAt: new Date(T + 2000),
          errors: [expect.objectContaining({ attempt: 1, name: 'LeaseExpired' })],
        })
        expect((await timeline(store, job.id)).at(-1)).toEqual(['rescued', 'failed', 1])
        expect(await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now: T + 2000 })).toEqual([])
      })

      it('rescue takes only expired running jobs, at most limit', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: Array.from({ length: 5 }, () => jobInsert()), now: T })
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 1000, now: T }) // expire T + 1000
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 9000, now: T }) // expires T + 9000
        await store.jobInsertMany({ jobs: [jobInsert({ runAt: T + 100 })], now: T })
        expect(await store.jobRescue({ limit: 2, now: T + 2000 })).toBe(2)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(0)
        const counts = Object.fromEntries((await store.jobCounts()).map((count) => [count.state, count.count]))
        expect(counts).toEqual({ queued: 4, running: 1, scheduled: 1 })
      })

      for (const outcome of ['completed', 'retry', 'failed', 'snoozed', 'released'] as const) {
        it(`after rescue and a new claim, the old lease's ${outcome} is rejected and changes nothing`, async () => {
          const { store } = await setup()
          const job = jobInsert({ maxAttempts: 5 })
          await store.jobInsertMany({ jobs: [job], now: T })
          const stale = await claimOne(store, T, 1000)
          await store.jobRescue({ limit: 10, now: T + 2000 })
          const current = await claimOne(store, T + 2000, 1000)
          expect(current.lease).not.toBe(stale.lease)
          const before = await store.jobGet({ id: job.id })
          const eventsBefore = await store.eventList({ jobId: job.id, limit: 100 })

          expect(await store.jobFinishMany({ finishes: [finishOf(stale, outcome)], now: T + 2100 })).toEqual([false])
          expect(await store.jobGet({ id: job.id })).toEqual(before)
          expect(await store.eventList({ jobId: job.id, limit: 100 })).toEqual(eventsBefore)
          // The holder of the current lease still finishes it.
          expect(await store.jobFinishMany({ finishes: [finishOf(current, outcome)], now: T + 2200 })).toEqual([true])
        })
      }

      it("after rescue and a new claim, the old lease's heartbeat is reported lost and extends nothing", async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const stale = await claimOne(store, T, 1000)
        await store.jobRescue({ limit: 10, now: T + 2000 })
        await claimOne(store, T + 2000, 1000)
        expect(await store.jobHeartbeat({ leases: [ref(stale)], leaseMs: 60_000, now: T + 2100 })).toEqual([{ id: job.id, state: 'running' }])
        expect((await store.jobGet({ id: job.id }))?.leaseExpiresAt).toEqual(new Date(T + 3000))
      })

      it("after rescue and a new claim, the old lease's notes are ignored", async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const stale = await claimOne(store, T, 1000)
        await store.jobRescue({ limit: 10, now: T + 2000 })
        const current = await claimOne(store, T + 2000, 1000)
        await store.jobNoteMany({ notes: [{ ...ref(current), progress: '1' }], now: T + 2001 })
        const eventsBefore = await store.eventList({ jobId: job.id, limit: 100 })
        await store.jobNoteMany({ notes: [{ ...ref(stale), progress: '99', log: 'from the past' }], now: T + 2002 })
        expect((await store.jobGet({ id: job.id }))?.progress).toBe(1)
        expect(await store.eventList({ jobId: job.id, limit: 100 })).toEqual(eventsBefore)
      })

      // ClaimedJob.lease: heartbeats and finishes apply while the job is still running under the
      // lease. Expiry makes a job rescuable; until the rescuer has taken it, a slow worker wins.
      it('an expired lease still holds until the job is rescued', async () => {
        const { store } = await setup()
        const [late, slow] = [jobInsert(), jobInsert()]
        await store.jobInsertMany({ jobs: [late, slow], now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 2, leaseMs: 1000, now: T })
        const byId = new Map(claimed.map((job) => [job.id, job]))
        expect(await store.jobHeartbeat({ leases: [ref(byId.get(late.id)!)], leaseMs: 1000, now: T + 5000 })).toEqual([])
        expect(await store.jobFinishMany({ finishes: [finishOf(byId.get(slow.id)!, 'completed')], now: T + 5000 })).toEqual([true])
        expect(await store.jobRescue({ limit: 10, now: T + 5500 })).toBe(0)
        expect((await store.jobGet({ id: late.id }))?.leaseExpiresAt).toEqual(new Date(T + 6000))
      })

      it('a rescued job that nobody re-claimed still rejects the old lease', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const stale = await claimOne(store, T, 1000)
        await store.jobRescue({ limit: 10, now: T + 2000 })
        expect(await store.jobFinishMany({ finishes: [finishOf(stale, 'completed')], now: T + 2001 })).toEqual([false])
        expect(await store.jobHeartbeat({ leases: [ref(stale)], leaseMs: 1000, now: T + 2001 })).toEqual([{ id: job.id, state: 'queued' }])
        expect((await store.jobGet({ id: job.id }))?.state).toBe('queued')
      })

      it('finishing a cancelled job does nothing', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await store.jobCancel({ id: job.id, now: T + 1 })
        const before = await store.jobGet({ id: job.id })
        for (const outcome of ['completed', 'retry', 'failed', 'snoozed', 'released'] as const) {
          expect(await store.jobFinishMany({ finishes: [finishOf(claimed, outcome)], now: T + 2 }), outcome).toEqual([false])
        }
        expect(await store.jobGet({ id: job.id })).toEqual(before)
        expect((await timeline(store, job.id)).at(-1)).toEqual(['cancelled', 'cancelled', 1])
      })

      it('a heartbeat reports each lost lease with the state that replaced it', async () => {
        const { store } = await setup()
        const [held, cancelled, done, missing] = [jobInsert(), jobInsert(), jobInsert(), jobInsert()]
        await store.jobInsertMany({ jobs: [held, cancelled, done], now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 1000, now: T })
        const byId = new Map(claimed.map((job) => [job.id, job]))
        await store.jobCancel({ id: cancelled.id, now: T + 1 })
        await finish(store, { ...ref(byId.get(done.id)!), outcome: 'completed', result: '0' }, T + 1)
        const lost = await store.jobHeartbeat({
          leases: [ref(byId.get(held.id)!), ref(byId.get(cancelled.id)!), ref(byId.get(done.id)!), { id: missing.id, lease: 1 }],
          leaseMs: 1000,
          now: T + 2,
        })
        const byJob = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)
        expect([...lost].sort(byJob)).toEqual(
          [
            { id: cancelled.id, state: 'cancelled' },
            { id: done.id, state: 'completed' },
            { id: missing.id, state: 'missing' },
          ].sort(byJob),
        )
        expect((await store.jobGet({ id: held.id }))?.leaseExpiresAt).toEqual(new Date(T + 1002))
      })

      it('a lease finishes once: a second finish under it is rejected', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        expect(
          await store.jobFinishMany({ finishes: [finishOf(claimed, 'completed'), finishOf(claimed, 'failed')], now: T + 1 }),
        ).toEqual([true, false])
        expect(await store.jobFinishMany({ finishes: [finishOf(claimed, 'retry')], now: T + 2 })).toEqual([false])
        expect((await store.jobGet({ id: job.id }))?.state).toBe('completed')
      })

      it('a finish under a lease the job never had is rejected', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        expect(await store.jobFinishMany({ finishes: [{ ...finishOf(claimed, 'completed'), lease: claimed.lease + 1 }], now: T + 1 })).toEqual([false])
        expect(await store.jobFinishMany({ finishes: [{ ...finishOf(claimed, 'completed'), id: uuidv7() }], now: T + 1 })).toEqual([false])
        expect((await store.jobGet({ id: job.id }))?.state).toBe('running')
      })
    })

    // ─── Outcomes ─────────────────────────────────────────────────────────────────────────────

    describe('outcomes', () => {
      it('completed stores the result and finishedAt and releases the lease', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'completed', result: JSON.stringify({ url: 'x', sizes: [1, 2] }) }, T + 50)
        const done = await store.jobGet({ id: job.id })
        expect(done).toMatchObject({ state: 'completed', result: { url: 'x', sizes: [1, 2] }, attempt: 1, finishedAt: new Date(T + 50) })
        expect(done?.workerId).toBeUndefined()
        expect(done?.leaseExpiresAt).toBeUndefined()
        expect((await store.eventList({ jobId: job.id, limit: 10 })).at(-1)).toMatchObject({ type: 'completed', state: 'completed', attempt: 1, at: new Date(T + 50) })
      })

      it('retry makes the job retrying, due delayMs later, with the error appended', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 3 })
        await store.jobInsertMany({ jobs: [job], now: T })
        const first = await claimOne(store, T)
        await finish(store, { ...ref(first), outcome: 'retry', error: { name: 'TypeError', message: 'first', stack: 'TypeError: first\n    at x' }, delayMs: 1000 }, T + 10)
        const retrying = await store.jobGet({ id: job.id })
        expect(retrying).toMatchObject({ state: 'retrying', attempt: 1, runAt: new Date(T + 1010) })
        expect(retrying?.finishedAt).toBeUndefined()
        expect(retrying?.workerId).toBeUndefined()
        expect(retrying?.errors).toEqual([{ attempt: 1, at: new Date(T + 10), name: 'TypeError', message: 'first', stack: 'TypeError: first\n    at x' }])
        expect((await store.eventList({ jobId: job.id, limit: 10 })).at(-1)).toMatchObject({
          type: 'retrying',
          state: 'retrying',
          attempt: 1,
          at: new Date(T + 10),
          data: { error: { name: 'TypeError', message: 'first' } },
        })
        expect(await store.jobNextDue()).toBe(T + 1010)

        // The backoff elapses, the job runs again, and the second error joins the first.
        expect(await store.jobPromote({ limit: 10, now: T + 1010 })).toBe(1)
        const second = await claimOne(store, T + 1010)
        expect(second.attempt).toBe(2)
        await finish(store, { ...ref(second), outcome: 'retry', error: { name: 'Error', message: 'second' }, delayMs: 2000 }, T + 1020)
        const again = await store.jobGet({ id: job.id })
        expect(again?.runAt).toEqual(new Date(T + 3020))
        expect(again?.errors).toEqual([
          expect.objectContaining({ attempt: 1, message: 'first' }),
          { attempt: 2, at: new Date(T + 1020), name: 'Error', message: 'second' },
        ])
      })

      it('promote moves due scheduled and retrying jobs to queued at their run time, not before', async () => {
        const { store } = await setup()
        const scheduled = jobInsert({ runAt: T + 1000 })
        const retried = jobInsert()
        await store.jobInsertMany({ jobs: [scheduled, retried], now: T })
        await finish(store, { ...ref(await claimOne(store, T)), outcome: 'retry', error: boom(), delayMs: 2000 }, T) // due T + 2000
        expect(await store.jobNextDue()).toBe(T + 1000)

        expect(await store.jobPromote({ limit: 10, now: T + 999 })).toBe(0)
        expect((await store.jobGet({ id: scheduled.id }))?.state).toBe('scheduled')
        expect(await store.jobPromote({ limit: 10, now: T + 1000 })).toBe(1)
        expect((await store.jobGet({ id: scheduled.id }))?.state).toBe('queued')
        expect(await store.jobNextDue()).toBe(T + 2000)

        expect(await store.jobPromote({ limit: 10, now: T + 1999 })).toBe(0)
        expect(await store.jobPromote({ limit: 10, now: T + 2000 })).toBe(1)
        expect(await store.jobGet({ id: retried.id })).toMatchObject({ state: 'queued', attempt: 1 })
        expect(await store.jobNextDue()).toBeUndefined()

        expect(await timeline(store, scheduled.id)).toEqual([
          ['enqueued', 'scheduled', 0],
          ['promoted', 'queued', 0],
        ])
        expect((await timeline(store, retried.id)).at(-1)).toEqual(['promoted', 'queued', 1])
      })

      it('promote honours limit, earliest first', async () => {
        const { store } = await setup()
        const jobs = [3000, 1000, 2000].map((delay) => jobInsert({ delayMs: delay }))
        await store.jobInsertMany({ jobs, now: T })
        expect(await store.jobPromote({ limit: 2, now: T + 5000 })).toBe(2)
        expect((await store.jobGet({ id: jobs[0]!.id }))?.state).toBe('scheduled')
        expect(await store.jobNextDue()).toBe(T + 3000)
        expect(await store.jobPromote({ limit: 2, now: T + 5000 })).toBe(1)
      })

      it('jobNextDue is undefined when nothing waits', async () => {
        const { store } = await setup()
        expect(await store.jobNextDue()).toBeUndefined()
        await store.jobInsertMany({ jobs: [jobInsert()], now: T })
        expect(await store.jobNextDue()).toBeUndefined()
      })

      it('failed is final and records the error', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 5 })
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'failed', error: { name: 'PermanentError', message: 'bad input', stack: 's' } }, T + 5)
        expect(await store.jobGet({ id: job.id })).toMatchObject({
          state: 'failed',
          attempt: 1,
          finishedAt: new Date(T + 5),
          errors: [{ attempt: 1, at: new Date(T + 5), name: 'PermanentError', message: 'bad input', stack: 's' }],
        })
        expect((await store.eventList({ jobId: job.id, limit: 10 })).at(-1)).toMatchObject({
          type: 'failed',
          state: 'failed',
          attempt: 1,
          data: { error: { name: 'PermanentError', message: 'bad input' } },
        })
        expect(await store.jobPromote({ limit: 10, now: T + 1e9 })).toBe(0)
        expect(await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now: T + 10 })).toEqual([])
      })

      it('snoozed returns the job to scheduled with its attempt given back', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 1 })
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'snoozed', delayMs: 3000 }, T + 10)
        const snoozed = await store.jobGet({ id: job.id })
        expect(snoozed).toMatchObject({ state: 'scheduled', attempt: 0, runAt: new Date(T + 3010), errors: [] })
        expect(snoozed?.finishedAt).toBeUndefined()
        expect(await store.jobNextDue()).toBe(T + 3010)
        expect((await timeline(store, job.id)).at(-1)).toEqual(['snoozed', 'scheduled', 0])
        expect(await store.jobPromote({ limit: 10, now: T + 3009 })).toBe(0)
        expect(await store.jobPromote({ limit: 10, now: T + 3010 })).toBe(1)
        // Its single attempt is still there to spend.
        expect((await claimOne(store, T + 3010)).attempt).toBe(1)
      })

      it('released returns the job to queued at once with its attempt given back', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await finish(store, { ...ref(claimed), outcome: 'released' }, T + 10)
        const released = await store.jobGet({ id: job.id })
        expect(released).toMatchObject({ state: 'queued', attempt: 0, errors: [] })
        expect(released?.workerId).toBeUndefined()
        expect((await timeline(store, job.id)).at(-1)).toEqual(['released', 'queued', 0])
        const again = await claimOne(store, T + 10)
        expect(again.attempt).toBe(1)
      })

      it('a batch of finishes applies each on its own merits', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: [jobInsert(), jobInsert(), jobInsert()], now: T })
        const [a, b, c] = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 1000, now: T })
        await store.jobCancel({ id: b!.id, now: T })
        const applied = await store.jobFinishMany({
          finishes: [finishOf(a!, 'completed'), finishOf(b!, 'completed'), finishOf(c!, 'retry')],
          now: T + 1,
        })
        expect(applied).toEqual([true, false, true])
        expect((await Promise.all([a, b, c].map((job) => store.jobGet({ id: job!.id })))).map((job) => job?.state)).toEqual([
          'completed',
          'cancelled',
          'retrying',
        ])
      })
    })

    // ─── Cancel and retry ─────────────────────────────────────────────────────────────────────

    describe('cancel and retry', () => {
      for (const state of ['queued', 'scheduled', 'running', 'retrying'] as const) {
        it(`cancels a ${state} job`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state)
          const attempt = (await store.jobGet({ id }))!.attempt
          const cancelled = await store.jobCancel({ id, now: T + 100 })
          expect(cancelled).toMatchObject({ id, state: 'cancelled', finishedAt: new Date(T + 100), attempt })
          expect(cancelled.workerId).toBeUndefined()
          expect(await store.jobGet({ id })).toMatchObject({ state: 'cancelled', finishedAt: new Date(T + 100) })
          expect((await store.eventList({ jobId: id, limit: 20 })).at(-1)).toMatchObject({
            type: 'cancelled',
            state: 'cancelled',
            attempt,
            at: new Date(T + 100),
          })
          // Nothing brings it back on its own.
          expect(await store.jobPromote({ limit: 10, now: T + 1e9 })).toBe(0)
          expect(await store.jobRescue({ limit: 10, now: T + 1e9 })).toBe(0)
          expect(await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 1000, now: T + 1e9 })).toEqual([])
        })
      }

      for (const state of ['completed', 'failed', 'cancelled'] as const) {
        it(`cancelling a ${state} job is INVALID_STATE and changes nothing`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state)
          const before = await store.jobGet({ id })
          await expectCode(() => store.jobCancel({ id, now: T + 100 }), 'INVALID_STATE')
          expect(await store.jobGet({ id })).toEqual(before)
        })
      }

      it('cancel, retry and delete of an unknown id are JOB_NOT_FOUND', async () => {
        const { store } = await setup()
        await expectCode(() => store.jobCancel({ id: uuidv7(), now: T }), 'JOB_NOT_FOUND')
        await expectCode(() => store.jobRetry({ id: uuidv7(), now: T }), 'JOB_NOT_FOUND')
        await expectCode(() => store.jobDelete({ id: uuidv7() }), 'JOB_NOT_FOUND')
      })

      for (const state of ['completed', 'failed', 'cancelled'] as const) {
        it(`delete removes a ${state} job with its events and frees its key`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state, { key: 'k', keyTtlMs: 1e9 })
          const other = await jobIn(store, 'queued')
          const othersEvents = await store.eventList({ jobId: other, limit: 20 })
          await store.jobDelete({ id })
          expect(await store.jobGet({ id })).toBeUndefined()
          expect(await store.eventList({ jobId: id, limit: 20 })).toEqual([])
          expect((await store.eventList({ limit: 100 })).filter((event) => event.jobId === id)).toEqual([])
          expect(await store.eventList({ jobId: other, limit: 20 })).toEqual(othersEvents)
          // The key named a job that no longer exists: it is free for a new one.
          const [fresh] = await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 10 })
          expect(fresh).toMatchObject({ existing: false })
          await expectCode(() => store.jobDelete({ id }), 'JOB_NOT_FOUND')
        })
      }

      for (const state of ['queued', 'scheduled', 'running', 'retrying'] as const) {
        it(`deleting a ${state} job is INVALID_STATE and changes nothing`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state)
          const before = await store.jobGet({ id })
          const events = await store.eventList({ jobId: id, limit: 20 })
          const error = await expectCode(() => store.jobDelete({ id }), 'INVALID_STATE')
          expect(error.details).toMatchObject({ id, state })
          expect(await store.jobGet({ id })).toEqual(before)
          expect(await store.eventList({ jobId: id, limit: 20 })).toEqual(events)
        })
      }

      for (const state of ['failed', 'cancelled'] as const) {
        it(`retry puts a ${state} job back to queued with attempts from zero, and it runs again`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state)
          const old = (await store.jobGet({ id }))!
          const retried = await store.jobRetry({ id, now: T + 500 })
          expect(retried).toMatchObject({ id, state: 'queued', attempt: 0, runAt: new Date(T + 500) })
          expect(retried.finishedAt).toBeUndefined()
          expect(retried.result).toBeUndefined()
          expect(await store.jobGet({ id })).toEqual(retried)
          expect((await timeline(store, id)).at(-1)).toEqual(['retried', 'queued', 0])
          const claimed = await claimOne(store, T + 500)
          expect(claimed).toMatchObject({ id, attempt: 1 })
          await finish(store, { ...ref(claimed), outcome: 'completed', result: '"second time"' }, T + 600)
          expect(await store.jobGet({ id })).toMatchObject({ state: 'completed', result: 'second time', createdAt: old.createdAt })
        })
      }

      it("retry clears the old run's progress and keeps its errors", async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: [jobInsert({ maxAttempts: 1 })], now: T })
        const claimed = await claimOne(store, T)
        await store.jobNoteMany({ notes: [{ ...ref(claimed), progress: '50' }], now: T + 1 })
        await finish(store, { ...ref(claimed), outcome: 'failed', error: { name: 'Error', message: 'boom' } }, T + 2)
        expect(await store.jobGet({ id: claimed.id })).toMatchObject({ progress: 50 })
        const retried = await store.jobRetry({ id: claimed.id, now: T + 3 })
        expect(retried.progress).toBeUndefined()
        expect(retried.errors).toMatchObject([{ attempt: 1, message: 'boom' }])
      })

      for (const state of ['queued', 'scheduled', 'running', 'retrying', 'completed'] as const) {
        it(`retry of a ${state} job is INVALID_STATE and changes nothing`, async () => {
          const { store } = await setup()
          const id = await jobIn(store, state)
          const before = await store.jobGet({ id })
          await expectCode(() => store.jobRetry({ id, now: T + 100 }), 'INVALID_STATE')
          expect(await store.jobGet({ id })).toEqual(before)
        })
      }

      it('retry is INVALID_STATE while its key is held by another unfinished job', async () => {
        const { store } = await setup()
        const original = jobInsert({ key: 'k', maxAttempts: 1 })
        await store.jobInsertMany({ jobs: [original], now: T })
        await finish(store, { ...ref(await claimOne(store, T)), outcome: 'failed', error: boom() }, T + 1)
        const successor = jobInsert({ key: 'k' })
        expect((await store.jobInsertMany({ jobs: [successor], now: T + 2 }))[0]?.existing).toBe(false)

        await expectCode(() => store.jobRetry({ id: original.id, now: T + 3 }), 'INVALID_STATE')
        expect((await store.jobGet({ id: original.id }))?.state).toBe('failed')

        // Once the successor finished, the retry goes through and the original holds the key again.
        await store.jobCancel({ id: successor.id, now: T + 4 })
        await store.jobRetry({ id: original.id, now: T + 5 })
        expect(await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 6 })).toEqual([
          { id: original.id, state: 'queued', existing: true },
        ])
      })
    })

    // ─── Pruning ──────────────────────────────────────────────────────────────────────────────

    describe('pruning', () => {
      const retention = { completed: 1000, failed: 5000, cancelled: 3000 }

      it("deletes finished jobs once each state's retention has passed since finishedAt", async () => {
        const { store } = await setup()
        const completed = await jobIn(store, 'completed') // each finishes at T + 20
        const failed = await jobIn(store, 'failed')
        const cancelled = await jobIn(store, 'cancelled')
        const exists = async () =>
          Promise.all([completed, failed, cancelled].map(async (id) => (await store.jobGet({ id })) !== undefined))
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 500 })).toBe(0)
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 2000 })).toBe(1)
        expect(await exists()).toEqual([false, true, true])
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 4000 })).toBe(1)
        expect(await exists()).toEqual([false, true, false])
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 6000 })).toBe(1)
        expect(await exists()).toEqual([false, false, false])
      })

      it('never prunes unfinished jobs, however old', async () => {
        const { store } = await setup()
        const ids: string[] = []
        // Claiming states first: jobIn claims the oldest queued job.
        for (const state of ['running', 'retrying', 'queued', 'scheduled'] as const) ids.push(await jobIn(store, state))
        const zero = { completed: 0, failed: 0, cancelled: 0 }
        expect(await store.jobPrune({ olderThanMs: zero, limit: 100, now: T + 1e10 })).toBe(0)
        for (const id of ids) expect(await store.jobGet({ id })).toBeDefined()
      })

      it("deletes a pruned job's events and keeps the others'", async () => {
        const { store } = await setup()
        const pruned = await jobIn(store, 'completed')
        const kept = await jobIn(store, 'queued')
        const keptEvents = await store.eventList({ jobId: kept, limit: 100 })
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 1e6 })).toBe(1)
        expect(await store.eventList({ jobId: pruned, limit: 100 })).toEqual([])
        expect(await store.eventList({ limit: 1000 })).toEqual(keptEvents)
      })

      it('honours limit', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: Array.from({ length: 10 }, () => jobInsert()), now: T })
        for (const job of await store.jobList({ limit: 100 })) await store.jobCancel({ id: job.id, now: T })
        const prune = () => store.jobPrune({ olderThanMs: retention, limit: 4, now: T + 1e6 })
        expect([await prune(), await prune(), await prune(), await prune()]).toEqual([4, 4, 2, 0])
        expect(await store.jobList({ limit: 100 })).toEqual([])
      })

      it('an expired key is free, and pruning leaves the job that held it until its own retention', async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'k', keyTtlMs: 1000 })
        await store.jobInsertMany({ jobs: [holder], now: T })
        await finish(store, { ...ref(await claimOne(store, T)), outcome: 'completed', result: '1' }, T)
        const long = { completed: 1e9, failed: 1e9, cancelled: 1e9 }
        expect(await store.jobPrune({ olderThanMs: long, limit: 100, now: T + 2000 })).toBe(0)
        expect(await store.jobGet({ id: holder.id })).toBeDefined()
        const next = jobInsert({ key: 'k' })
        expect(await store.jobInsertMany({ jobs: [next], now: T + 2000 })).toEqual([{ id: next.id, state: 'queued', existing: false }])
      })

      it('pruning a job frees a key it still held', async () => {
        const { store } = await setup()
        const holder = jobInsert({ key: 'k', keyTtlMs: 1e9 })
        await store.jobInsertMany({ jobs: [holder], now: T })
        await finish(store, { ...ref(await claimOne(store, T)), outcome: 'completed', result: '1' }, T)
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 2000 })).toBe(1)
        const next = jobInsert({ key: 'k' })
        expect(await store.jobInsertMany({ jobs: [next], now: T + 2000 })).toEqual([{ id: next.id, state: 'queued', existing: false }])
      })

      it('pruning a job does not free its key when a newer job holds it', async () => {
        const { store } = await setup()
        const old = jobInsert({ key: 'k' })
        await store.jobInsertMany({ jobs: [old], now: T })
        await store.jobCancel({ id: old.id, now: T })
        const holder = jobInsert({ key: 'k' })
        await store.jobInsertMany({ jobs: [holder], now: T + 1 })
        expect(await store.jobPrune({ olderThanMs: retention, limit: 100, now: T + 1e6 })).toBe(1)
        expect(await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 1e6 })).toEqual([
          { id: holder.id, state: 'queued', existing: true },
        ])
      })
    })

    // ─── Event log ────────────────────────────────────────────────────────────────────────────

    describe('event log', () => {
      it('eventLastSeq is 0 for an empty log, then the newest seq', async () => {
        const { store } = await setup()
        expect(await store.eventLastSeq()).toBe(0)
        await store.jobInsertMany({ jobs: [jobInsert(), jobInsert()], now: T })
        const events = await store.eventList({ limit: 10 })
        expect(await store.eventLastSeq()).toBe(events.at(-1)!.seq)
        expect(await store.eventList({ after: await store.eventLastSeq(), limit: 10 })).toEqual([])
      })

      it("a job's life appends one event per transition, in order, with state and attempt", async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 3, runAt: T + 100 })
        await store.jobInsertMany({ jobs: [job], now: T })
        let now = T + 100
        await store.jobPromote({ limit: 10, now })
        await finish(store, { ...ref(await claimOne(store, now)), outcome: 'retry', error: boom(), delayMs: 100 }, ++now)
        now += 100
        await store.jobPromote({ limit: 10, now })
        await finish(store, { ...ref(await claimOne(store, now)), outcome: 'snoozed', delayMs: 100 }, ++now)
        now += 100
        await store.jobPromote({ limit: 10, now })
        await finish(store, { ...ref(await claimOne(store, now)), outcome: 'released' }, ++now)
        const last = await claimOne(store, ++now)
        await store.jobNoteMany({ notes: [{ ...ref(last), progress: '50' }], now: ++now })
        await store.jobNoteMany({ notes: [{ ...ref(last), log: 'nearly there' }], now: ++now })
        await finish(store, { ...ref(last), outcome: 'completed', result: '"done"' }, ++now)

        const events = await store.eventList({ jobId: job.id, limit: 100 })
        expect(events.map((event) => [event.type, event.state, event.attempt])).toEqual([
          ['enqueued', 'scheduled', 0],
          ['promoted', 'queued', 0],
          ['started', 'running', 1],
          ['retrying', 'retrying', 1],
          ['promoted', 'queued', 1],
          ['started', 'running', 2],
          ['snoozed', 'scheduled', 1],
          ['promoted', 'queued', 1],
          ['started', 'running', 2],
          ['released', 'queued', 1],
          ['started', 'running', 2],
          ['progress', 'running', 2],
          ['log', 'running', 2],
          ['completed', 'completed', 2],
        ])
        expectIncreasing(events)
        for (let i = 1; i < events.length; i++) expect(events[i]!.at.getTime()).toBeGreaterThanOrEqual(events[i - 1]!.at.getTime())
        expect(events.at(-1)?.at).toEqual(new Date(now))
        for (const event of events) expect(event).toMatchObject({ jobId: job.id, task: job.task, queue: job.queue })
      })

      it('rescue, failure, manual retry and cancel append their events', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 2 })
        await store.jobInsertMany({ jobs: [job], now: T })
        await claimOne(store, T, 1000)
        await store.jobRescue({ limit: 10, now: T + 2000 })
        await finish(store, { ...ref(await claimOne(store, T + 2000)), outcome: 'failed', error: boom() }, T + 2001)
        await store.jobRetry({ id: job.id, now: T + 3000 })
        await store.jobCancel({ id: job.id, now: T + 3001 })
        expect(await timeline(store, job.id)).toEqual([
          ['enqueued', 'queued', 0],
          ['started', 'running', 1],
          ['rescued', 'queued', 1],
          ['started', 'running', 2],
          ['failed', 'failed', 2],
          ['retried', 'queued', 0],
          ['cancelled', 'cancelled', 0],
        ])
      })

      it('eventList after a cursor returns only later events, in seq order, up to limit', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: Array.from({ length: 6 }, () => jobInsert()), now: T })
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 6, leaseMs: 1000, now: T })
        const all = await store.eventList({ limit: 100 })
        expect(all).toHaveLength(12)
        expectIncreasing(all)
        const cursor = all[4]!.seq
        expect(await store.eventList({ after: cursor, limit: 3 })).toEqual(all.slice(5, 8))
        expect(await store.eventList({ after: all.at(-1)!.seq, limit: 3 })).toEqual([])
        // Per job, with a cursor too.
        const one = all[0]!.jobId
        const mine = all.filter((event) => event.jobId === one)
        expect(await store.eventList({ jobId: one, limit: 100 })).toEqual(mine)
        expect(await store.eventList({ jobId: one, after: mine[0]!.seq, limit: 100 })).toEqual(mine.slice(1))
      })

      it('a follower using after sees every event exactly once while other connections write', async () => {
        const { store, open } = await setup()
        const writers = await Promise.all([open(), open(), open()])
        let writing = true
        const write = async (connection: Store, w: number): Promise<void> => {
          for (let round = 0; round < 15; round++) {
            await connection.jobInsertMany({ jobs: [jobInsert(), jobInsert()], now: T })
            const claimed = await connection.jobClaim({ queues: ['default'], workerId: `w${w}`, limit: 2, leaseMs: 1000, now: T })
            await connection.jobFinishMany({ finishes: claimed.map((job) => finishOf(job, 'completed')), now: T })
          }
        }
        const seen: JobEvent[] = []
        const follow = async (): Promise<void> => {
          let cursor = 0
          // Keep reading until the writers are done and one more read finds nothing new.
          while (true) {
            const done = !writing
            const page = await store.eventList({ after: cursor, limit: 7 })
            seen.push(...page)
            if (page.length > 0) cursor = page.at(-1)!.seq
            else if (done) return
            // Yield to the event loop so writers on this process make progress; not a sleep.
            await new Promise((resolve) => setImmediate(resolve))
          }
        }
        const following = follow()
        await Promise.all(writers.map((connection, w) => write(connection, w)))
        writing = false
        await following
        expectIncreasing(seen)
        const all = await store.eventList({ limit: 10_000 })
        expect(all.length).toBeGreaterThan(0)
        expect(seen.map((event) => event.seq)).toEqual(all.map((event) => event.seq))
      })

      it('notes store progress on the job and append progress and log events while the lease holds', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        await store.jobNoteMany({ notes: [{ ...ref(claimed), progress: '10' }], now: T + 1 })
        expect((await store.jobGet({ id: job.id }))?.progress).toBe(10)
        await store.jobNoteMany({
          notes: [
            { ...ref(claimed), progress: JSON.stringify({ done: 3, of: 4 }), log: 'three down' },
            { ...ref(claimed), log: 'one to go' },
          ],
          now: T + 2,
        })
        expect((await store.jobGet({ id: job.id }))?.progress).toEqual({ done: 3, of: 4 })
        const events = (await store.eventList({ jobId: job.id, limit: 100 })).slice(2)
        expect(events.map((event) => [event.type, event.state, event.attempt, event.data])).toEqual([
          ['progress', 'running', 1, { progress: 10 }],
          ['progress', 'running', 1, { progress: { done: 3, of: 4 } }],
          ['log', 'running', 1, { message: 'three down' }],
          ['log', 'running', 1, { message: 'one to go' }],
        ])

        // Once the attempt ended, its notes are dropped.
        await finish(store, { ...ref(claimed), outcome: 'completed', result: 'null' }, T + 3)
        const count = (await store.eventList({ jobId: job.id, limit: 100 })).length
        await store.jobNoteMany({ notes: [{ ...ref(claimed), progress: '100', log: 'late' }], now: T + 4 })
        expect((await store.jobGet({ id: job.id }))?.progress).toEqual({ done: 3, of: 4 })
        expect(await store.eventList({ jobId: job.id, limit: 100 })).toHaveLength(count)
      })
    })

    // ─── Listing ──────────────────────────────────────────────────────────────────────────────

    describe('listing', () => {
      /** 24 jobs over two queues and two tasks; a third of them completed. */
      async function populate(store: Store): Promise<JobInsert[]> {
        const jobs = Array.from({ length: 24 }, (_, i) => jobInsert({ queue: i % 2 === 0 ? 'even' : 'odd', task: i % 3 === 0 ? 'fizz' : 'plain' }))
        // Several batches, so ids come from more than one insert.
        for (let i = 0; i < jobs.length; i += 8) await store.jobInsertMany({ jobs: jobs.slice(i, i + 8), now: T })
        for (let i = 0; i < jobs.length; i += 3) {
          const [claimed] = await store.jobClaim({ queues: [jobs[i]!.queue], workerId: 'w', limit: 1, leaseMs: 1000, now: T })
          await finish(store, { ...ref(claimed!), outcome: 'completed', result: 'null' }, T)
        }
        return jobs
      }

      it('lists newest first', async () => {
        const { store } = await setup()
        const jobs = await populate(store)
        expect((await store.jobList({ limit: 100 })).map((job) => job.id)).toEqual(jobs.map((job) => job.id).reverse())
        expect((await store.jobList({ limit: 5 })).map((job) => job.id)).toEqual(jobs.map((job) => job.id).reverse().slice(0, 5))
      })

      it('filters by states, queue and task, alone and combined', async () => {
        const { store } = await setup()
        await populate(store)
        const all = await store.jobList({ limit: 100 })
        const ids = (jobs: JobInfo[]) => jobs.map((job) => job.id)
        const expectFilter = async (filter: { states?: JobState[]; queue?: string; task?: string }, keep: (job: JobInfo) => boolean) => {
          const listed = await store.jobList({ ...filter, limit: 100 })
          expect(ids(listed), JSON.stringify(filter)).toEqual(ids(all.filter(keep)))
        }
        await expectFilter({ states: ['completed'] }, (job) => job.state === 'completed')
        await expectFilter({ states: ['queued', 'completed'] }, (job) => job.state === 'queued' || job.state === 'completed')
        await expectFilter({ states: ['failed'] }, () => false)
        await expectFilter({ queue: 'odd' }, (job) => job.queue === 'odd')
        await expectFilter({ task: 'fizz' }, (job) => job.task === 'fizz')
        await expectFilter({ queue: 'even', task: 'plain', states: ['queued'] }, (job) => job.queue === 'even' && job.task === 'plain' && job.state === 'queued')
        expect(all.filter((job) => job.state === 'completed').length).toBeGreaterThan(0)
      })

      it('pages with before, visiting every job exactly once', async () => {
        const { store } = await setup()
        const jobs = await populate(store)
        for (const filter of [{}, { queue: 'odd' }, { states: ['queued' as const] }]) {
          const expected = await store.jobList({ ...filter, limit: 1000 })
          const visited: string[] = []
          let before: string | undefined
          while (true) {
            const page = await store.jobList({ ...filter, before, limit: 5 })
            visited.push(...page.map((job) => job.id))
            if (page.length < 5) break
            before = page.at(-1)!.id
          }
          expect(visited, JSON.stringify(filter)).toEqual(expected.map((job) => job.id))
        }
        expect((await store.jobList({ limit: 1000 })).length).toBe(jobs.length)
      })

      it('jobCounts counts jobs per queue and state', async () => {
        const { store } = await setup()
        expect(await store.jobCounts()).toEqual([])
        await populate(store)
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'odd', delayMs: 1000 })], now: T })
        const counts = (await store.jobCounts()).filter((count) => count.count > 0)
        const sorted = [...counts].sort((a, b) => a.queue.localeCompare(b.queue) || a.state.localeCompare(b.state))
        expect(sorted).toEqual([
          { queue: 'even', state: 'completed', count: 4 },
          { queue: 'even', state: 'queued', count: 8 },
          { queue: 'odd', state: 'completed', count: 4 },
          { queue: 'odd', state: 'queued', count: 8 },
          { queue: 'odd', state: 'scheduled', count: 1 },
        ])
      })
    })

    // ─── Copy between stores ──────────────────────────────────────────────────────────────────

    describe('copy between stores', () => {
      /** Two databases, each set up (and cleaned up) like any test's: the copy's source and target. */
      async function pair(): Promise<{ source: Store; target: Store }> {
        return { source: (await setup()).store, target: (await setup()).store }
      }

      it('a copy carries every job in every state with its fields and timeline', async () => {
        const { source, target } = await pair()
        const ids = await jobsInEveryState(source)
        const records = await source.jobExport({ limit: 100 })
        expect(records.map((record) => record.job.id)).toEqual(Object.values(ids).sort())
        for (const record of records) {
          expect(record.job).toEqual(await source.jobGet({ id: record.job.id }))
          expect(record.events).toEqual((await source.eventList({ jobId: record.job.id, limit: 100 })).map(recordEvent))
        }
        const keyTtlOf = (id: string): number | undefined => records.find((record) => record.job.id === id)?.keyTtlMs
        expect([keyTtlOf(ids.completed), keyTtlOf(ids.scheduled), keyTtlOf(ids.running)]).toEqual([60_000, 5000, undefined])

        expect(await target.jobImport({ records, now: T + 2000 })).toEqual({ imported: records.length, skipped: 0, keyConflicts: [] })
        for (const [role, id] of Object.entries(ids)) {
          const original = (await source.jobGet({ id }))!
          const events = withoutSeq(await source.eventList({ jobId: id, limit: 100 }))
          const copied = { job: await target.jobGet({ id }), events: withoutSeq(await target.eventList({ jobId: id, limit: 100 })) }
          if (role === 'running') {
            // Nobody runs it in the target: handed back as a shutdown would (see the next test).
            const { workerId: _workerId, leaseExpiresAt: _lease, ...rest } = original
            const released = { jobId: id, task: original.task, queue: original.queue, at: new Date(T + 2000), type: 'released', state: 'queued', attempt: 0 }
            expect(copied, role).toEqual({ job: { ...rest, state: 'queued', attempt: 0 }, events: [...events, released] })
          } else expect(copied, role).toEqual({ job: original, events })
        }
        // The target's log holds the copied timelines one after another, in the order given.
        const log = await target.eventList({ limit: 1000 })
        expectIncreasing(log)
        expect(log.map((event) => event.jobId)).toEqual(
          records.flatMap((record) => [...record.events, ...(record.job.state === 'running' ? ['released'] : [])].map(() => record.job.id)),
        )
        const counts = async (store: Store) => Object.fromEntries((await store.jobCounts()).map((count) => [count.queue, count.state]))
        expect(await counts(target)).toEqual({ ...(await counts(source)), running: 'queued' })
      })

      it('importing the same jobs again skips them all and changes nothing', async () => {
        const { source, target } = await pair()
        const ids = await jobsInEveryState(source)
        const records = await source.jobExport({ limit: 100 })
        await target.jobImport({ records, now: T + 2000 })
        // The target moves a copied job on; a second copy must not put it back.
        await claimOne(target, T + 2500, 1000, 'queued')
        const jobs = await target.jobList({ limit: 100 })
        const lastSeq = await target.eventLastSeq()
        expect(await target.jobImport({ records, now: T + 3000 })).toEqual({ imported: 0, skipped: records.length, keyConflicts: [] })
        expect(await target.jobList({ limit: 100 })).toEqual(jobs)
        expect(await target.eventLastSeq()).toBe(lastSeq)
        expect((await target.jobGet({ id: ids.queued }))?.state).toBe('running')
      })

      it('export pages with after and limit, oldest first, visiting every job exactly once', async () => {
        const { source, target } = await pair()
        expect(await source.jobExport({ limit: 10 })).toEqual([])
        expect(await target.jobImport({ records: [], now: T })).toEqual({ imported: 0, skipped: 0, keyConflicts: [] })
        for (let i = 0; i < 3; i++) await source.jobInsertMany({ jobs: Array.from({ length: 8 }, () => jobInsert()), now: T })
        await source.jobClaim({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 1000, now: T })
        const oldestFirst = (await source.jobList({ limit: 100 })).map((job) => job.id).reverse()

        const pages: JobRecord[][] = []
        let after: string | undefined
        while (true) {
          const page = await source.jobExport({ after, limit: 5 })
          pages.push(page)
          if (page.length < 5) break
          after = page.at(-1)!.job.id
        }
        expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 4])
        expect(pages.flat().map((record) => record.job.id)).toEqual(oldestFirst)
        for (const record of pages.flat()) expect(record.events).toEqual((await source.eventList({ jobId: record.job.id, limit: 100 })).map(recordEvent))
        expect(await source.jobExport({ after: oldestFirst.at(-1), limit: 5 })).toEqual([])

        // A copy interrupted after some pages and run again imports only what is missing.
        await target.jobImport({ records: [...pages[0]!, ...pages[2]!], now: T + 10 })
        const totals = { imported: 0, skipped: 0 }
        for (const page of pages) {
          const result = await target.jobImport({ records: page, now: T + 10 })
          totals.imported += result.imported
          totals.skipped += result.skipped
        }
        expect(totals).toEqual({ imported: 14, skipped: 10 })
        expect((await target.jobList({ limit: 100 })).map((job) => job.id).reverse()).toEqual(oldestFirst)
      })

      it('a running job arrives queued with its attempt given back and a released event, and runs there', async () => {
        const { source, target } = await pair()
        const job = jobInsert({ maxAttempts: 2, key: 'k' })
        await source.jobInsertMany({ jobs: [job], now: T })
        const running = await claimOne(source, T, 60_000)
        await source.jobNoteMany({ notes: [{ ...ref(running), progress: '40', log: 'working' }], now: T + 1 })
        await target.jobImport({ records: await source.jobExport({ limit: 10 }), now: T + 100 })

        const arrived = await target.jobGet({ id: job.id })
        expect(arrived).toMatchObject({ state: 'queued', attempt: 0, startedAt: new Date(T), progress: 40 })
        expect(arrived?.workerId).toBeUndefined()
        expect(arrived?.leaseExpiresAt).toBeUndefined()
        expect(await timeline(target, job.id)).toEqual([
          ['enqueued', 'queued', 0],
          ['started', 'running', 1],
          ['progress', 'running', 1],
          ['log', 'running', 1],
          ['released', 'queued', 0],
        ])
        // Its key is held while it waits, and it runs as its first attempt again.
        expect((await target.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 150 }))[0]).toEqual({ id: job.id, state: 'queued', existing: true })
        const claimed = await claimOne(target, T + 200)
        expect(claimed).toMatchObject({ id: job.id, attempt: 1 })
        await finish(target, { ...ref(claimed), outcome: 'completed', result: '"done"' }, T + 300)
        expect(await target.jobGet({ id: job.id })).toMatchObject({ state: 'completed', attempt: 1, result: 'done' })
      })

      it('an import notes ready for queued jobs and due for waiting ones', async () => {
        const { source, target } = await pair()
        await source.jobInsertMany({ jobs: [jobInsert({ queue: 'mail' }), jobInsert({ queue: 'later', runAt: T + 1000 })], now: T })
        const records = await source.jobExport({ limit: 10 })
        const ready = nextNote(target, (note) => note.kind === 'ready' && note.queue === 'mail', 'ready')
        const due = nextNote(target, (note) => note.kind === 'due', 'due')
        await target.jobImport({ records, now: T })
        await Promise.all([ready, due])
      })

      it("keys are held as the source held them: unfinished jobs', and finished jobs' inside keyTtlMs", async () => {
        const { source, target } = await pair()
        const waiting = jobInsert({ key: 'waiting', runAt: T + 5000 })
        const running = jobInsert({ key: 'running', queue: 'run' })
        const [kept, lapsed, noTtl] = [jobInsert({ key: 'kept', keyTtlMs: 5000 }), jobInsert({ key: 'lapsed', keyTtlMs: 50 }), jobInsert({ key: 'no-ttl' })]
        await source.jobInsertMany({ jobs: [waiting, running, kept, lapsed, noTtl], now: T })
        await claimOne(source, T, 60_000, 'run')
        for (const claimed of await source.jobClaim({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 1000, now: T })) {
          await finish(source, finishOf(claimed, 'completed'), T + 10) // kept until T + 5010, lapsed until T + 60
        }
        await target.jobImport({ records: await source.jobExport({ limit: 10 }), now: T + 100 })

        const enqueue = async (key: string, now = T + 100): Promise<JobInsertResult> => (await target.jobInsertMany({ jobs: [jobInsert({ key })], now }))[0]!
        expect(await enqueue('waiting')).toEqual({ id: waiting.id, state: 'scheduled', existing: true })
        expect(await enqueue('running')).toEqual({ id: running.id, state: 'queued', existing: true })
        expect(await enqueue('kept')).toEqual({ id: kept.id, state: 'completed', existing: true })
        expect((await enqueue('lapsed')).existing).toBe(false)
        expect((await enqueue('no-ttl')).existing).toBe(false)
        expect((await enqueue('kept', T + 5011)).existing).toBe(false)
      })

      it('a key another job of the target holds is a conflict: the job is imported without holding it', async () => {
        const { source, target } = await pair()
        const [contested, lapsed] = [jobInsert({ key: 'k' }), jobInsert({ key: 'gone', queue: 'done' })]
        await source.jobInsertMany({ jobs: [contested, lapsed], now: T })
        await finish(source, finishOf(await claimOne(source, T, 1000, 'done'), 'completed'), T + 1)
        const [holder, other] = [jobInsert({ key: 'k' }), jobInsert({ key: 'gone' })]
        await target.jobInsertMany({ jobs: [holder, other], now: T })

        // A finished job whose key has lapsed holds nothing, so it conflicts with nothing.
        expect(await target.jobImport({ records: await source.jobExport({ limit: 10 }), now: T + 100 })).toEqual({
          imported: 2,
          skipped: 0,
          keyConflicts: [contested.id],
        })
        expect(await target.jobGet({ id: contested.id })).toEqual(await source.jobGet({ id: contested.id }))
        expect((await target.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 101 }))[0]).toEqual({ id: holder.id, state: 'queued', existing: true })
        // Once the holder lets go, the key is free: the imported job never took it.
        await target.jobCancel({ id: holder.id, now: T + 102 })
        expect((await target.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 103 }))[0]?.existing).toBe(false)
      })

      it('a copy carries the webhook; an imported job is due for a delivery only when it finishes in the target', async () => {
        const { source, target } = await pair()
        const finished = jobInsert({ queue: 'done', webhook: 'https://example.com/hooks/done' })
        const waiting = jobInsert({ webhook: 'https://example.com/hooks/waiting' })
        await source.jobInsertMany({ jobs: [finished, waiting], now: T })
        await finish(source, finishOf(await claimOne(source, T, 1000, 'done'), 'completed'), T + 1)
        const records = await source.jobExport({ limit: 10 })
        expect(records.map((record) => record.job.webhook)).toEqual([finished.webhook, waiting.webhook])

        await target.jobImport({ records, now: T + 100 })
        expect((await target.jobGet({ id: finished.id }))?.webhook).toBe(finished.webhook)
        const delivery = { task: 'offload.webhook', queue: 'webhooks', maxAttempts: 3 }
        // The source still owes the finished job's delivery; the target must not send it twice.
        expect(await target.jobWebhookDispatch({ limit: 10, delivery, now: T + 101 })).toBe(0)
        await finish(target, finishOf(await claimOne(target, T + 102), 'completed'), T + 103)
        expect(await target.jobWebhookDispatch({ limit: 10, delivery, now: T + 104 })).toBe(1)
        const [sent] = await target.jobList({ queue: 'webhooks', limit: 10 })
        const payload: WebhookDeliveryPayload = { jobId: waiting.id, url: waiting.webhook!, state: 'completed', attempt: 1, finishedAt: new Date(T + 103).toISOString() }
        expect(sent?.payload).toEqual(payload)
      })

      it('an import that fails part-way writes nothing of its batch', async () => {
        const { source, target } = await pair()
        await source.jobInsertMany({ jobs: [jobInsert({ key: 'a' }), jobInsert({ key: 'b' }), jobInsert({ key: 'c' })], now: T })
        await claimOne(source, T)
        const records = await source.jobExport({ limit: 10 })
        // The last record carries a payload JSON cannot hold, so the batch fails after the others were written.
        const broken = [...records.slice(0, -1), { ...records.at(-1)!, job: { ...records.at(-1)!.job, payload: { big: 10n } } }]
        await expect(target.jobImport({ records: broken, now: T + 100 })).rejects.toThrow()
        expect(await target.jobList({ limit: 10 })).toEqual([])
        expect(await target.eventLastSeq()).toBe(0)
        // Nor did it keep a key: the whole batch imports cleanly afterwards.
        expect(await target.jobImport({ records, now: T + 200 })).toEqual({ imported: 3, skipped: 0, keyConflicts: [] })
      })
    })

    // ─── Leader election ──────────────────────────────────────────────────────────────────────

    describe('leader election', () => {
      it('one owner at a time among connections electing at once', async () => {
        const { store, open } = await setup()
        const connections = [store, ...(await Promise.all(Array.from({ length: 5 }, () => open())))]
        const won = await Promise.all(
          connections.map((connection, i) => connection.leaderElect({ name: 'maintenance', owner: `p${i}`, ttlMs: 1000, now: T })),
        )
        expect(won.filter(Boolean)).toHaveLength(1)
      })

      it('the owner renews; another takes over only after the lease expired', async () => {
        const { store, open } = await setup()
        const other = await open()
        const elect = (s: Store, owner: string, now: number) => s.leaderElect({ name: 'm', owner, ttlMs: 1000, now })
        expect(await elect(store, 'a', T)).toBe(true) // until T + 1000
        expect(await elect(other, 'b', T + 500)).toBe(false)
        expect(await elect(store, 'a', T + 800)).toBe(true) // until T + 1800
        expect(await elect(other, 'b', T + 1500)).toBe(false)
        expect(await elect(other, 'b', T + 1801)).toBe(true) // until T + 2801
        expect(await elect(store, 'a', T + 1900)).toBe(false)
        expect(await elect(other, 'b', T + 2000)).toBe(true)
      })

      it('resign frees leadership at once; a non-owner cannot resign it', async () => {
        const { store, open } = await setup()
        const other = await open()
        expect(await store.leaderElect({ name: 'm', owner: 'a', ttlMs: 60_000, now: T })).toBe(true)
        await other.leaderResign({ name: 'm', owner: 'b' })
        expect(await other.leaderElect({ name: 'm', owner: 'b', ttlMs: 60_000, now: T + 1 })).toBe(false)
        await store.leaderResign({ name: 'm', owner: 'a' })
        expect(await other.leaderElect({ name: 'm', owner: 'b', ttlMs: 60_000, now: T + 2 })).toBe(true)
      })

      it('leadership of different names is independent', async () => {
        const { store } = await setup()
        expect(await store.leaderElect({ name: 'one', owner: 'a', ttlMs: 1000, now: T })).toBe(true)
        expect(await store.leaderElect({ name: 'two', owner: 'b', ttlMs: 1000, now: T })).toBe(true)
        expect(await store.leaderElect({ name: 'one', owner: 'b', ttlMs: 1000, now: T })).toBe(false)
      })
    })

    // ─── Queues ───────────────────────────────────────────────────────────────────────────────

    describe('queues', () => {
      it('queueList counts every state per queue, by name, with the oldest queued run time', async () => {
        const { store } = await setup()
        expect(await store.queueList()).toEqual([])
        // jobIn claims the oldest queued job of `default`, so the ones that stay queued come last.
        for (const state of ['running', 'retrying', 'completed', 'failed', 'cancelled', 'queued', 'scheduled'] as const) await jobIn(store, state)
        await store.jobInsertMany({ jobs: [jobInsert({ runAt: T - 500 }), jobInsert({ queue: 'b', delayMs: 1000 })], now: T + 30 })
        expect(await store.queueList()).toEqual([
          { queue: 'b', paused: false, counts: counts({ scheduled: 1 }) },
          {
            queue: 'default',
            paused: false,
            counts: counts({ scheduled: 1, queued: 2, running: 1, retrying: 1, completed: 1, failed: 1, cancelled: 1 }),
            oldestQueuedAt: new Date(T - 500),
          },
        ])
      })

      it('a paused queue is claimed from by no connection; other queues are, and enqueues and running jobs go on', async () => {
        const { store, open } = await setup()
        const other = await open()
        const [running, waiting, elsewhere] = [jobInsert({ queue: 'a' }), jobInsert({ queue: 'a' }), jobInsert({ queue: 'b' })]
        await store.jobInsertMany({ jobs: [running], now: T })
        const claimed = await claimOne(store, T, 60_000, 'a')
        await store.queuePause({ queue: 'a', now: T + 1 })
        const more = await store.jobInsertMany({ jobs: [waiting, elsewhere], now: T + 2 })
        expect(more.map((result) => result.state)).toEqual(['queued', 'queued'])

        const claim = (connection: Store, queues: string[]) => connection.jobClaim({ queues, workerId: 'w', limit: 10, leaseMs: 1000, now: T + 3 })
        expect(await claim(other, ['a'])).toEqual([])
        expect((await claim(other, ['a', 'b'])).map((job) => job.id)).toEqual([elsewhere.id])
        expect(await claim(store, ['a'])).toEqual([])
        // The job claimed before the pause still finishes.
        await finish(other, finishOf(claimed, 'completed'), T + 4)
        expect((await store.jobGet({ id: waiting.id }))?.state).toBe('queued')
        expect((await other.queueList()).map((queue) => [queue.queue, queue.paused])).toEqual([
          ['a', true],
          ['b', false],
        ])
      })

      it('resuming lets claims go on and wakes listeners, on this connection and on others', async () => {
        const { store, open } = await setup()
        const other = await open()
        const job = jobInsert({ queue: 'a' })
        await store.queuePause({ queue: 'a', now: T })
        if (other.capabilities.listen) {
          // Wait until the other connection hears this one, so what it hears next is the resume.
          const heard = nextNote(other, () => true, 'any, before the resume')
          await store.jobInsertMany({ jobs: [job], now: T })
          await heard
        } else await store.jobInsertMany({ jobs: [job], now: T })
        expect(await other.jobClaim({ queues: ['a'], workerId: 'w', limit: 1, leaseMs: 1000, now: T })).toEqual([])

        const here = nextNote(store, (note) => note.kind === 'ready' && note.queue === 'a', 'ready on this connection')
        // Another connection hears `ready` where the store can say which queue, else `changed`.
        const there = other.capabilities.listen
          ? nextNote(other, (note) => (note.kind === 'ready' && note.queue === 'a') || note.kind === 'changed', 'ready on another connection')
          : undefined
        await store.queueResume({ queue: 'a', now: T + 1 })
        await Promise.all([here, there])
        expect((await claimOne(other, T + 2, 1000, 'a')).id).toBe(job.id)
      })

      it('pause and resume are idempotent, and a paused queue without jobs is listed', async () => {
        const { store } = await setup()
        await store.queuePause({ queue: 'empty', now: T })
        await store.queuePause({ queue: 'empty', now: T + 1 })
        expect(await store.queueList()).toEqual([{ queue: 'empty', paused: true, counts: counts({}) }])
        await store.queueResume({ queue: 'empty', now: T + 2 })
        await store.queueResume({ queue: 'empty', now: T + 3 })
        expect(await store.queueList()).toEqual([{ queue: 'empty', paused: false, counts: counts({}) }])
        await store.queuePause({ queue: 'empty', now: T + 4 })
        expect((await store.queueList()).map((queue) => queue.paused)).toEqual([true])
      })
    })

    // ─── Maintained counts ────────────────────────────────────────────────────────────────────

    describe('maintained counts', () => {
      it('queueList and jobCounts equal a recount after every kind of write, before and after folding', async () => {
        const { store, open } = await setup()
        const other = await open()
        const delivery: WebhookDeliveryTemplate = { task: 'offload.webhook', queue: 'hooks', maxAttempts: 3 }
        const check = async (what: string): Promise<void> => {
          await expectCountsMatch(store, what)
          // Folding (where a store folds) changes no count, whether it folds some changes or all.
          await store.queueCountsCompact({ limit: 1 })
          await expectCountsMatch(other, `${what}, one change folded, read on another connection`)
          while ((await other.queueCountsCompact({ limit: 1000 })) === 1000);
          await expectCountsMatch(store, `${what}, all folded`)
        }

        // Enqueue: due and delayed, several priorities and queues, a key already held, a webhook.
        const held = jobInsert({ queue: 'a', key: 'k' })
        await store.jobInsertMany({ jobs: [held], now: T })
        const batch = [
          ...Array.from({ length: 12 }, (_, i) => jobInsert({ queue: 'a', priority: i % 3, runAt: T - 100 * i })),
          ...Array.from({ length: 4 }, () => jobInsert({ queue: 'b', delayMs: 500 })),
          jobInsert({ queue: 'a', key: 'k' }),
          jobInsert({ queue: 'b', webhook: 'https://example.com/hook', maxAttempts: 1 }),
          jobInsert({ queue: 'c', maxAttempts: 1 }),
        ]
        const inserted = await other.jobInsertMany({ jobs: batch, now: T })
        expect(inserted.filter((result) => result.existing)).toHaveLength(1)
        await check('after enqueues')

        // Claims, a heartbeat and a note (which move nothing), then every outcome in one batch.
        const claimed = await store.jobClaim({ queues: ['a', 'b', 'c'], workerId: 'w', limit: 9, leaseMs: 1000, now: T + 10 })
        expect(claimed).toHaveLength(9)
        await store.jobHeartbeat({ leases: claimed.slice(0, 2).map(ref), leaseMs: 1000, now: T + 11 })
        await store.jobNoteMany({ notes: [{ ...ref(claimed[0]!), progress: '1', log: 'x' }], now: T + 11 })
        const outcomes: JobFinish['outcome'][] = ['completed', 'completed', 'retry', 'failed', 'snoozed', 'released', 'completed']
        const applied = await store.jobFinishMany({ finishes: outcomes.map((outcome, i) => finishOf(claimed[i]!, outcome)), now: T + 20 })
        expect(applied).toEqual(outcomes.map(() => true))
        // A stale finish (the lease already used) moves nothing.
        expect(await store.jobFinishMany({ finishes: [finishOf(claimed[0]!, 'failed')], now: T + 21 })).toEqual([false])
        await check('after claims and finishes')

        // Cancels from queued, scheduled, running and retrying; retries of a failed and a cancelled job.
        const byState = async (state: JobState): Promise<JobInfo> => (await store.jobList({ states: [state], limit: 1 }))[0]!
        for (const state of ['queued', 'scheduled', 'running', 'retrying'] as const) await store.jobCancel({ id: (await byState(state)).id, now: T + 30 })
        const cancelled = (await byState('cancelled')).id
        await expectCode(() => store.jobCancel({ id: cancelled, now: T + 31 }), 'INVALID_STATE')
        await store.jobRetry({ id: (await byState('failed')).id, now: T + 32 })
        await store.jobRetry({ id: (await byState('cancelled')).id, now: T + 32 })
        await check('after cancels and retries')

        // Webhook deliveries, promotions, rescues (one with attempts left, one without), a delete and a prune.
        const hooked = (await store.jobClaim({ queues: ['b'], workerId: 'w', limit: 10, leaseMs: 1000, now: T + 40 })).find(
          (job) => job.maxAttempts === 1,
        )
        expect(hooked).toBeDefined()
        await finish(store, finishOf(hooked!, 'completed'), T + 41)
        expect(await store.jobWebhookDispatch({ limit: 10, delivery, now: T + 42 })).toBe(1)
        expect(await store.jobPromote({ limit: 100, now: T + 5000 })).toBeGreaterThan(0)
        await store.jobClaim({ queues: ['c'], workerId: 'w', limit: 1, leaseMs: 1000, now: T + 5000 })
        await store.jobClaim({ queues: ['a'], workerId: 'w', limit: 1, leaseMs: 1000, now: T + 5000 })
        expect(await store.jobRescue({ limit: 100, now: T + 7000 })).toBeGreaterThanOrEqual(2)
        await store.jobDelete({ id: (await byState('completed')).id })
        expect(await store.jobPrune({ olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 2, now: T + 8000 })).toBe(2)
        await check('after dispatch, promote, rescue, delete and prune')

        // An import of everything, under new ids and a queue of its own (a running job arrives queued).
        const records = (await store.jobExport({ limit: 1000 })).map((record) => ({ ...record, job: { ...record.job, id: uuidv7(), queue: 'copied', key: undefined } }))
        expect((await store.jobImport({ records, now: T + 9000 })).imported).toBe(records.length)
        // Pruning everything finished leaves queues with nothing in them out of the list.
        while ((await store.jobPrune({ olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 1000, now: T + 9000 })) > 0);
        await check('after an import and a full prune')
        const left = await store.jobList({ limit: 1000 })
        expect((await store.queueList()).map((queue) => queue.queue)).toEqual([...new Set(left.map((job) => job.queue))].sort())
      })

      it('counts stay exact while several connections claim, finish, cancel and fold at once', async () => {
        const { store, open } = await setup()
        const connections = [store, ...(await Promise.all(Array.from({ length: 3 }, () => open())))]
        const queues = ['x', 'y']
        await store.jobInsertMany({ jobs: Array.from({ length: 400 }, (_, i) => jobInsert({ queue: queues[i % 2]!, maxAttempts: 2 })), now: T })
        const outcomes: JobFinish['outcome'][] = ['completed', 'retry', 'failed', 'released', 'snoozed', 'completed']
        let folding = true
        const folder = (async () => {
          // A turn of the event loop between folds: a store with nothing to fold answers at once.
          while (folding) {
            await connections[3]!.queueCountsCompact({ limit: 7 })
            await new Promise((resolve) => setImmediate(resolve))
          }
        })()
        await Promise.all(
          connections.map(async (connection, c) => {
            for (let round = 0; round < 12; round++) {
              const claimed = await connection.jobClaim({ queues, workerId: `w${c}`, limit: 8, leaseMs: 60_000, now: T + 10 })
              if (claimed.length === 0) break
              const [first, ...rest] = claimed
              if (round % 3 === 0) await connection.jobCancel({ id: first!.id, now: T + 11 })
              await connection.jobFinishMany({
                finishes: (round % 3 === 0 ? rest : claimed).map((job, i) => finishOf(job, outcomes[(i + c + round) % outcomes.length]!)),
                now: T + 12,
              })
              await connection.jobInsertMany({ jobs: [jobInsert({ queue: queues[round % 2]! })], now: T + 12 })
            }
          }),
        )
        folding = false
        await folder
        await expectCountsMatch(store, 'after the concurrent writers')
        while ((await store.queueCountsCompact({ limit: 1000 })) === 1000);
        await expectCountsMatch(connections[2]!, 'after folding everything')
      })

      it('a write that fails counts nothing, whatever commits beside it', async () => {
        const { store } = await setup()
        const taken = jobInsert({ queue: 'a' })
        await store.jobInsertMany({ jobs: [taken], now: T })
        const finished = await jobIn(store, 'completed')
        // Started together, so a store that batches concurrent writes puts them in one transaction.
        const outcomes = await Promise.allSettled([
          store.jobInsertMany({ jobs: [jobInsert({ queue: 'a' }), jobInsert({ queue: 'b' })], now: T }),
          store.jobInsertMany({ jobs: [jobInsert({ queue: 'a' }), { ...taken }], now: T }),
          store.jobCancel({ id: finished, now: T + 30 }),
          store.jobInsertMany({ jobs: [jobInsert({ queue: 'b', delayMs: 10 })], now: T }),
          store.jobInsertMany({ jobs: [jobInsert({ queue: 'c' })], now: T, maxQueued: new Map([['c', 0]]) }),
        ])
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected'])
        await expectCountsMatch(store, 'after writes that failed beside writes that succeeded')
      })

      it('queueList gives the oldest queued run time of a queue across all its priorities', async () => {
        const { store } = await setup()
        const runAts = [
          [5, T - 100],
          [0, T - 5000],
          [10, T],
          [-3, T - 2000],
          [0, T - 300],
          [7, T - 4999],
        ] as const
        await store.jobInsertMany({ jobs: runAts.map(([priority, runAt]) => jobInsert({ queue: 'p', priority, runAt })), now: T })
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'q', priority: 2, runAt: T - 10 }), jobInsert({ queue: 'q', runAt: T + 50 })], now: T })
        const oldest = async () => Object.fromEntries((await store.queueList()).map((queue) => [queue.queue, queue.oldestQueuedAt?.getTime()]))
        expect(await oldest()).toEqual({ p: T - 5000, q: T - 10 })
        // The claim takes priority 10 first, then 7: the oldest stays; then the lowest priorities go.
        await store.jobClaim({ queues: ['p'], workerId: 'w', limit: 2, leaseMs: 1000, now: T })
        expect(await oldest()).toEqual({ p: T - 5000, q: T - 10 })
        await store.jobClaim({ queues: ['p'], workerId: 'w', limit: 3, leaseMs: 1000, now: T })
        expect(await oldest()).toEqual({ p: T - 2000, q: T - 10 })
        await store.jobClaim({ queues: ['p', 'q'], workerId: 'w', limit: 10, leaseMs: 1000, now: T })
        expect(await oldest()).toEqual({ p: undefined, q: undefined })
      })
    })

    // ─── Queue caps ───────────────────────────────────────────────────────────────────────────

    describe('maxQueued', () => {
      const cap = (limits: Record<string, number>): ReadonlyMap<string, number> => new Map(Object.entries(limits))

      /** Everything an insert may write: a rejected one must leave all of it as it was. */
      async function snapshot(store: Store) {
        return { counts: await store.jobCounts(), lastSeq: await store.eventLastSeq() }
      }

      async function expectFull(call: () => Promise<unknown>, details: { queue: string; limit: number; queued: number }): Promise<void> {
        const error = await expectCode(call, 'QUEUE_FULL')
        expect(error).toBeInstanceOf(QueueFullError)
        expect(error.details).toEqual(details)
      }

      it('an insert past the cap is rejected with QUEUE_FULL and writes nothing', async () => {
        const { store } = await setup()
        const limits = cap({ q: 3 })
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'q' }), jobInsert({ queue: 'q' })], now: T, maxQueued: limits })
        // Up to the cap is fine.
        const third = jobInsert({ queue: 'q', key: 'third' })
        expect(await store.jobInsertMany({ jobs: [third], now: T, maxQueued: limits })).toEqual([{ id: third.id, state: 'queued', existing: false }])
        const before = await snapshot(store)
        const refused = jobInsert({ queue: 'q', key: 'refused' })
        await expectFull(() => store.jobInsertMany({ jobs: [refused], now: T + 1, maxQueued: limits }), { queue: 'q', limit: 3, queued: 3 })
        expect(await snapshot(store)).toEqual(before)
        expect(await store.jobGet({ id: refused.id })).toBeUndefined()
        // Its key was not taken, and without a cap the queue takes more.
        const uncapped = jobInsert({ queue: 'q', key: 'refused' })
        expect(await store.jobInsertMany({ jobs: [uncapped], now: T + 2 })).toEqual([{ id: uncapped.id, state: 'queued', existing: false }])
      })

      it('only queued jobs count: waiting, running and finished ones do not, and new waiting jobs need no room', async () => {
        const { store } = await setup()
        const limits = cap({ default: 2 })
        await jobIn(store, 'running')
        await jobIn(store, 'completed')
        await jobIn(store, 'retrying')
        await store.jobInsertMany({ jobs: [jobInsert({ runAt: T + 1000 }), jobInsert({ delayMs: 1000 }), jobInsert()], now: T + 30 })
        await store.jobInsertMany({ jobs: [jobInsert()], now: T + 30, maxQueued: limits })
        // Now full: jobs that start scheduled still go in, a queued one does not.
        const later = await store.jobInsertMany({ jobs: [jobInsert({ delayMs: 500 }), jobInsert({ runAt: T + 5000 })], now: T + 40, maxQueued: limits })
        expect(later.map((result) => result.state)).toEqual(['scheduled', 'scheduled'])
        await expectFull(() => store.jobInsertMany({ jobs: [jobInsert({ delayMs: 500 }), jobInsert()], now: T + 50, maxQueued: limits }), {
          queue: 'default',
          limit: 2,
          queued: 2,
        })
      })

      it('a job that returns an existing key holder does not count', async () => {
        const { store } = await setup()
        const limits = cap({ default: 2 })
        const holder = jobInsert({ key: 'k' })
        await store.jobInsertMany({ jobs: [holder, jobInsert()], now: T })
        expect(await store.jobInsertMany({ jobs: [jobInsert({ key: 'k' })], now: T + 1, maxQueued: limits })).toEqual([
          { id: holder.id, state: 'queued', existing: true },
        ])
        // Room for one: a batch of one new job and its own replay fits.
        await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 1000, now: T + 2 })
        const fresh = jobInsert({ key: 'k2' })
        expect(await store.jobInsertMany({ jobs: [fresh, jobInsert({ key: 'k2' })], now: T + 3, maxQueued: limits })).toEqual([
          { id: fresh.id, state: 'queued', existing: false },
          { id: fresh.id, state: 'queued', existing: true },
        ])
      })

      it('each queue has its own cap; a queue without one is not capped', async () => {
        const { store } = await setup()
        const limits = cap({ a: 1, b: 2 })
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'a' }), jobInsert({ queue: 'b' }), jobInsert({ queue: 'c' })], now: T })
        await expectFull(() => store.jobInsertMany({ jobs: [jobInsert({ queue: 'a' })], now: T + 1, maxQueued: limits }), { queue: 'a', limit: 1, queued: 1 })
        const jobs = [jobInsert({ queue: 'b' }), ...Array.from({ length: 5 }, () => jobInsert({ queue: 'c' }))]
        const others = await store.jobInsertMany({ jobs, now: T + 1, maxQueued: limits })
        expect(others.every((result) => !result.existing)).toBe(true)
        await expectFull(() => store.jobInsertMany({ jobs: [jobInsert({ queue: 'b' })], now: T + 2, maxQueued: limits }), { queue: 'b', limit: 2, queued: 2 })
      })

      it('a batch that would pass a cap is rejected whole, its other queues included', async () => {
        const { store } = await setup()
        const limits = cap({ q: 3 })
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'q' })], now: T })
        const before = await snapshot(store)
        const batch = [jobInsert({ queue: 'other', key: 'o' }), jobInsert({ queue: 'q' }), jobInsert({ queue: 'q', key: 'q' }), jobInsert({ queue: 'q' })]
        await expectFull(() => store.jobInsertMany({ jobs: batch, now: T + 1, maxQueued: limits }), { queue: 'q', limit: 3, queued: 1 })
        expect(await snapshot(store)).toEqual(before)
        for (const job of batch) expect(await store.jobGet({ id: job.id })).toBeUndefined()
        // Two of them fit, and their keys are free.
        const fits = await store.jobInsertMany({ jobs: [batch[0]!, batch[2]!, batch[1]!], now: T + 2, maxQueued: limits })
        expect(fits.map((result) => result.existing)).toEqual([false, false, false])
        expect((await store.queueList()).map((queue) => [queue.queue, queue.counts.queued])).toEqual([
          ['other', 1],
          ['q', 3],
        ])
      })

      it('a full queue does not fail inserts submitted at the same time', async () => {
        const { store } = await setup()
        const limits = cap({ full: 1 })
        const resident = jobInsert({ queue: 'full' })
        await store.jobInsertMany({ jobs: [resident], now: T })
        const [before, alongside, after] = [jobInsert(), jobInsert({ queue: 'full', delayMs: 10 }), jobInsert({ key: 'after' })]
        // Submitted in one turn: a store that shares a transaction between writes shares it here.
        const [first, refused, second] = await Promise.allSettled([
          store.jobInsertMany({ jobs: [before], now: T + 1, maxQueued: limits }),
          store.jobInsertMany({ jobs: [alongside, jobInsert({ queue: 'full' })], now: T + 1, maxQueued: limits }),
          store.jobInsertMany({ jobs: [after], now: T + 1, maxQueued: limits }),
        ])
        expect([first.status, second.status]).toEqual(['fulfilled', 'fulfilled'])
        expect(refused.status === 'rejected' && isOffloadError(refused.reason, 'QUEUE_FULL')).toBe(true)
        expect((await store.jobList({ limit: 10 })).map((job) => job.id)).toEqual([after.id, before.id, resident.id])
        expect(await timeline(store, after.id)).toEqual([['enqueued', 'queued', 0]])
      })
    })

    // ─── Webhooks ─────────────────────────────────────────────────────────────────────────────

    describe('webhooks', () => {
      const delivery: WebhookDeliveryTemplate = {
        task: 'offload.webhook',
        queue: 'webhooks',
        maxAttempts: 5,
        backoff: { type: 'exponential', base: 1000, factor: 2, max: 60_000, jitter: 0 },
        timeoutMs: 10_000,
      }
      const hook = (name: string): string => `https://example.com/hooks/${name}`
      const dispatch = (store: Store, now: number, limit = 100): Promise<number> => store.jobWebhookDispatch({ limit, delivery, now })

      /** The delivery jobs' payloads by the id of the job each announces, checking each announces a different one. */
      async function deliveries(store: Store): Promise<Map<string, WebhookDeliveryPayload[]>> {
        const byJob = new Map<string, WebhookDeliveryPayload[]>()
        for (const job of (await store.jobList({ queue: delivery.queue, limit: 1000 })).reverse()) {
          const payload = job.payload as WebhookDeliveryPayload
          byJob.set(payload.jobId, [...(byJob.get(payload.jobId) ?? []), payload])
        }
        return byJob
      }

      it('each final transition of a job with a webhook gets exactly one delivery job', async () => {
        const { store } = await setup()
        const jobs = {
          completed: jobInsert({ queue: 'completed', webhook: hook('completed') }),
          failed: jobInsert({ queue: 'failed', webhook: hook('failed') }),
          cancelled: jobInsert({ queue: 'cancelled', webhook: hook('cancelled') }),
          cancelledWaiting: jobInsert({ queue: 'waiting', runAt: T + 5000, webhook: hook('cancelledWaiting') }),
          rescued: jobInsert({ queue: 'rescued', maxAttempts: 1, webhook: hook('rescued') }),
          retrying: jobInsert({ queue: 'retrying', webhook: hook('retrying') }),
          running: jobInsert({ queue: 'running', webhook: hook('running') }),
          plain: jobInsert({ queue: 'plain' }),
        }
        await store.jobInsertMany({ jobs: Object.values(jobs), now: T })
        const claim = (queue: string, leaseMs = 1000) => claimOne(store, T + 10, leaseMs, queue)
        await finish(store, finishOf(await claim('completed'), 'completed'), T + 20)
        await finish(store, finishOf(await claim('failed'), 'failed'), T + 30)
        await claim('cancelled', 60_000)
        await store.jobCancel({ id: jobs.cancelled.id, now: T + 40 })
        await store.jobCancel({ id: jobs.cancelledWaiting.id, now: T + 50 })
        await claim('rescued')
        await finish(store, finishOf(await claim('retrying'), 'retry'), T + 60)
        await claim('running', 60_000)
        await finish(store, finishOf(await claim('plain'), 'completed'), T + 70)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)

        expect(await dispatch(store, T + 3000)).toBe(5)
        expect(await dispatch(store, T + 3001)).toBe(0)
        const announced = (job: JobInsert, state: JobState, attempt: number, finishedAt: number): [string, WebhookDeliveryPayload[]] => [
          job.id,
          [{ jobId: job.id, url: job.webhook!, state, attempt, finishedAt: new Date(finishedAt).toISOString() }],
        ]
        expect(Object.fromEntries(await deliveries(store))).toEqual(
          Object.fromEntries([
            announced(jobs.completed, 'completed', 1, T + 20),
            announced(jobs.failed, 'failed', 1, T + 30),
            announced(jobs.cancelled, 'cancelled', 1, T + 40),
            announced(jobs.cancelledWaiting, 'cancelled', 0, T + 50),
            announced(jobs.rescued, 'failed', 1, T + 2000),
          ]),
        )

        // Each delivery is a job of the template, queued now, with its own enqueued event, and runs.
        const made = await store.jobList({ queue: delivery.queue, limit: 100 })
        for (const job of made) {
          expect(job).toMatchObject({
            task: delivery.task,
            state: 'queued',
            priority: 0,
            attempt: 0,
            maxAttempts: delivery.maxAttempts,
            backoff: delivery.backoff,
            timeoutMs: delivery.timeoutMs,
            metadata: {},
            runAt: new Date(T + 3000),
            createdAt: new Date(T + 3000),
          })
          expect(job.webhook).toBeUndefined()
          expect(job.key).toBeUndefined()
          expect(await timeline(store, job.id)).toEqual([['enqueued', 'queued', 0]])
        }
        const claimed = await store.jobClaim({ queues: [delivery.queue], workerId: 'w', limit: 10, leaseMs: 1000, now: T + 3002 })
        expect(claimed.map((job) => job.id).sort()).toEqual(made.map((job) => job.id).sort())
        expect(claimed.map((job) => job.payload)).toEqual(expect.arrayContaining(made.map((job) => job.payload)))
        // A delivery job's own finish announces nothing.
        for (const job of claimed) await finish(store, finishOf(job, 'completed'), T + 3003)
        expect(await dispatch(store, T + 3004)).toBe(0)
      })

      it('a job finished again after a manual retry gets a second delivery', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 1, webhook: hook('again') })
        await store.jobInsertMany({ jobs: [job], now: T })
        await finish(store, finishOf(await claimOne(store, T), 'failed'), T + 1)
        expect(await dispatch(store, T + 2)).toBe(1)
        await store.jobRetry({ id: job.id, now: T + 3 })
        expect(await dispatch(store, T + 4)).toBe(0)
        await finish(store, finishOf(await claimOne(store, T + 5), 'completed'), T + 6)
        expect(await dispatch(store, T + 7)).toBe(1)
        expect(await deliveries(store)).toEqual(
          new Map([
            [
              job.id,
              [
                { jobId: job.id, url: job.webhook!, state: 'failed', attempt: 1, finishedAt: new Date(T + 1).toISOString() },
                { jobId: job.id, url: job.webhook!, state: 'completed', attempt: 1, finishedAt: new Date(T + 6).toISOString() },
              ],
            ],
          ]),
        )
      })

      it('jobs without a webhook never get a delivery', async () => {
        const { store } = await setup()
        for (const state of ['completed', 'failed', 'cancelled'] as const) await jobIn(store, state)
        expect(await dispatch(store, T + 100)).toBe(0)
        expect(await store.jobList({ queue: delivery.queue, limit: 10 })).toEqual([])
      })

      it('dispatch takes at most limit jobs, oldest finish first', async () => {
        const { store } = await setup()
        const jobs = Array.from({ length: 5 }, (_, i) => jobInsert({ webhook: hook(String(i)) }))
        await store.jobInsertMany({ jobs, now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 5, leaseMs: 60_000, now: T })
        // Finished in the reverse of their insertion order.
        const finishOrder = [...claimed].reverse()
        for (const [i, job] of finishOrder.entries()) await finish(store, finishOf(job, 'completed'), T + 10 + i)
        const ids = finishOrder.map((job) => job.id)
        expect(await dispatch(store, T + 100, 2)).toBe(2)
        expect([...(await deliveries(store)).keys()].sort()).toEqual(ids.slice(0, 2).sort())
        expect(await dispatch(store, T + 101, 2)).toBe(2)
        expect(await dispatch(store, T + 102, 2)).toBe(1)
        expect(await dispatch(store, T + 103, 2)).toBe(0)
        expect([...(await deliveries(store)).keys()].sort()).toEqual([...ids].sort())
      })

      it('dispatch notes ready for the delivery queue', async () => {
        const { store } = await setup()
        await completedWithWebhook(store)
        const ready = nextNote(store, (note) => note.kind === 'ready' && note.queue === delivery.queue, 'ready')
        expect(await dispatch(store, T + 100)).toBe(1)
        await ready
      })

      it('dispatchers on two connections at once create each delivery exactly once', async () => {
        const { store, open } = await setup()
        const other = await open()
        const jobs = Array.from({ length: 60 }, (_, i) => jobInsert({ webhook: hook(String(i)) }))
        await store.jobInsertMany({ jobs, now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 60, leaseMs: 60_000, now: T })
        await store.jobFinishMany({ finishes: claimed.map((job) => finishOf(job, 'completed')), now: T + 1 })
        const created = await Promise.all(
          [store, other, store, other].map(async (connection, i) => {
            let total = 0
            while (true) {
              const created = await connection.jobWebhookDispatch({ limit: 4, delivery, now: T + 10 + i })
              if (created === 0) return total
              total += created
            }
          }),
        )
        expect(created.reduce((a, b) => a + b)).toBe(jobs.length)
        const sent = await deliveries(store)
        expect([...sent.keys()].sort()).toEqual(jobs.map((job) => job.id).sort())
        for (const payloads of sent.values()) expect(payloads).toHaveLength(1)
      })

      /** One completed job with a webhook, finished at `T + 20`. */
      async function completedWithWebhook(store: Store): Promise<JobInsert> {
        const job = jobInsert({ webhook: hook('one') })
        await store.jobInsertMany({ jobs: [job], now: T })
        await finish(store, finishOf(await claimOne(store, T + 10), 'completed'), T + 20)
        return job
      }
    })

    // ─── Appended events ──────────────────────────────────────────────────────────────────────

    describe('eventAppend', () => {
      it("appends an event with the job's current state and attempt and leaves the job alone", async () => {
        const { store } = await setup()
        const done = await jobIn(store, 'completed')
        const waiting = jobInsert()
        await store.jobInsertMany({ jobs: [waiting], now: T + 30 })
        const before = [await store.jobGet({ id: done }), await store.jobGet({ id: waiting.id })]
        const data = { url: 'https://example.com/hook', status: 200, ok: true, next: null }
        expect(await store.eventAppend({ jobId: done, type: 'webhook', data, now: T + 100 })).toBe(true)
        expect(await store.eventAppend({ jobId: waiting.id, type: 'webhook', data: { status: 500 }, now: T + 101 })).toBe(true)
        expect([await store.jobGet({ id: done }), await store.jobGet({ id: waiting.id })]).toEqual(before)

        const events = await store.eventList({ jobId: done, limit: 100 })
        expectIncreasing(events)
        expect(events.map((event) => event.type)).toEqual(['enqueued', 'started', 'completed', 'webhook'])
        expect(events.at(-1)).toEqual({
          seq: expect.any(Number),
          jobId: done,
          task: 'test.task',
          queue: 'default',
          at: new Date(T + 100),
          type: 'webhook',
          state: 'completed',
          attempt: 1,
          data,
        })
        expect(await timeline(store, waiting.id)).toEqual([
          ['enqueued', 'queued', 0],
          ['webhook', 'queued', 0],
        ])
        // Followers of the whole log see them, in order.
        const log = await store.eventList({ after: events.at(-2)!.seq, limit: 100 })
        expect(log.map((event) => [event.jobId, event.type])).toEqual([
          [waiting.id, 'enqueued'],
          [done, 'webhook'],
          [waiting.id, 'webhook'],
        ])
      })

      it('eventAppend for a job that does not exist returns false and writes nothing', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: [jobInsert()], now: T })
        const lastSeq = await store.eventLastSeq()
        expect(await store.eventAppend({ jobId: uuidv7(), type: 'webhook', data: { status: 200 }, now: T + 1 })).toBe(false)
        expect(await store.eventLastSeq()).toBe(lastSeq)
      })
    })

    // ─── Notes ────────────────────────────────────────────────────────────────────────────────

    describe('notes', () => {
      it('inserting a queued job notes ready for its queue', async () => {
        const { store } = await setup()
        const ready = nextNote(store, (note) => note.kind === 'ready' && note.queue === 'mail', 'ready')
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'mail' })], now: T })
        await ready
      })

      it('inserting a scheduled job notes due', async () => {
        const { store } = await setup()
        const due = nextNote(store, (note) => note.kind === 'due', 'due')
        await store.jobInsertMany({ jobs: [jobInsert({ runAt: T + 1000 })], now: T })
        await due
      })

      it('completing a job notes finished with its id', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        const finished = nextNote(store, (note) => note.kind === 'finished' && note.ids.includes(job.id), 'finished')
        await finish(store, { ...ref(claimed), outcome: 'completed', result: '1' }, T + 1)
        await finished
      })

      it('progress and log lines note progress with the job id', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        const claimed = await claimOne(store, T)
        const progress = nextNote(store, (note) => note.kind === 'progress' && note.ids.includes(job.id), 'progress')
        await store.jobNoteMany({ notes: [{ ...ref(claimed), log: 'working' }], now: T + 1 })
        await progress
      })

      it('failing a job, or rescuing it into failed, notes finished with its id', async () => {
        const { store } = await setup()
        const [failed, rescued] = [jobInsert({ maxAttempts: 1 }), jobInsert({ maxAttempts: 1 })]
        await store.jobInsertMany({ jobs: [failed, rescued], now: T })
        const claimed = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 2, leaseMs: 1000, now: T })
        const heardFailed = nextNote(store, (note) => note.kind === 'finished' && note.ids.includes(failed.id), 'finished (failed)')
        await finish(store, finishOf(claimed.find((job) => job.id === failed.id)!, 'failed'), T + 1)
        await heardFailed
        const heardRescued = nextNote(store, (note) => note.kind === 'finished' && note.ids.includes(rescued.id), 'finished (rescued)')
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
        await heardRescued
      })

      it('promote, rescue, release and a manual retry note ready for the queue', async () => {
        const { store } = await setup()
        const ready = (queue: string, what: string) => nextNote(store, (note) => note.kind === 'ready' && note.queue === queue, what)
        const jobs = ['promoted', 'rescued', 'released', 'retried'].map((queue) => jobInsert({ queue, runAt: queue === 'promoted' ? T + 10 : T }))
        await store.jobInsertMany({ jobs, now: T })
        const claim = (queue: string) => claimOne(store, T, 1000, queue)

        let heard = ready('promoted', 'ready after promote')
        await store.jobPromote({ limit: 10, now: T + 10 })
        await heard

        await claim('rescued')
        heard = ready('rescued', 'ready after rescue')
        await store.jobRescue({ limit: 10, now: T + 2000 })
        await heard

        const running = await claim('released')
        heard = ready('released', 'ready after release')
        await finish(store, finishOf(running, 'released'), T + 1)
        await heard

        await store.jobCancel({ id: jobs[3]!.id, now: T })
        heard = ready('retried', 'ready after retry')
        await store.jobRetry({ id: jobs[3]!.id, now: T + 1 })
        await heard
      })

      it('a retry or a snooze notes due', async () => {
        const { store } = await setup()
        await store.jobInsertMany({ jobs: [jobInsert(), jobInsert()], now: T })
        const [a, b] = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 2, leaseMs: 1000, now: T })
        let due = nextNote(store, (note) => note.kind === 'due', 'due after retry')
        await finish(store, finishOf(a!, 'retry'), T + 1)
        await due
        due = nextNote(store, (note) => note.kind === 'due', 'due after snooze')
        await finish(store, finishOf(b!, 'snoozed'), T + 1)
        await due
      })

      it('cancelling a job notes cancelled and finished with its id', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        await claimOne(store, T)
        const cancelled = nextNote(store, (note) => note.kind === 'cancelled' && note.ids.includes(job.id), 'cancelled')
        const finished = nextNote(store, (note) => note.kind === 'finished' && note.ids.includes(job.id), 'finished')
        await store.jobCancel({ id: job.id, now: T + 1 })
        await Promise.all([cancelled, finished])
      })

      it('a listener on another connection hears about a write there', async ({ skip }) => {
        const { store, open } = await setup()
        const listener = await open()
        if (!listener.capabilities.listen) skip('the store does not promise cross-connection notes (capabilities.listen is false)')
        const heard = nextNote(listener, () => true, 'any')
        await store.jobInsertMany({ jobs: [jobInsert()], now: T })
        await heard
      })
    })

    // ─── Failure triage ───────────────────────────────────────────────────────────────────────

    describe('failure triage', () => {
      /** An error as a handler of `where` throws it: the fingerprint sees its class, message and top frame. */
      const thrown = (message: string, where = 'loadUser', name = 'NotFoundError') => ({
        name,
        message,
        stack: `${name}: ${message}\n    at ${where} (file:///srv/app/src/users.ts:10:5)\n    at run (file:///srv/app/src/runner.ts:1:1)`,
      })

      /** A job of `task` in `queue` that failed with `error` at `at` (claimed at `at - 5`). */
      async function failed(store: Store, error: FinishError, at: number, overrides: Partial<JobInsert> = {}): Promise<string> {
        const job = jobInsert({ maxAttempts: 1, ...overrides })
        await store.jobInsertMany({ jobs: [job], now: at - 10 })
        const claimed = await claimOne(store, at - 5, 1000, job.queue)
        expect(claimed.id).toBe(job.id)
        await finish(store, { ...ref(claimed), outcome: 'failed', error }, at)
        return job.id
      }

      it('a failed job carries the fingerprint of its last error; a retrying one none, and a retry clears it', async () => {
        const { store } = await setup()
        const error = thrown('user 7 not found')
        const id = await failed(store, error, T + 20)
        expect((await store.jobGet({ id }))?.errorFingerprint).toBe(errorFingerprint(error))
        const retrying = await jobIn(store, 'retrying')
        expect((await store.jobGet({ id: retrying }))?.errorFingerprint).toBeUndefined()
        const retried = await store.jobRetry({ id, now: T + 30 })
        expect(retried.errorFingerprint).toBeUndefined()
        expect((await store.jobGet({ id }))?.errorFingerprint).toBeUndefined()
      })

      it('a rescue that fails a job fingerprints the LeaseExpired error it records', async () => {
        const { store } = await setup()
        const job = jobInsert({ maxAttempts: 1 })
        await store.jobInsertMany({ jobs: [job], now: T })
        await claimOne(store, T)
        expect(await store.jobRescue({ limit: 10, now: T + 2000 })).toBe(1)
        const rescued = (await store.jobGet({ id: job.id }))!
        expect(rescued.state).toBe('failed')
        const last = rescued.errors.at(-1)!
        expect(last.name).toBe('LeaseExpired')
        expect(rescued.errorFingerprint).toBe(errorFingerprint(last))
      })

      it('an imported failed job gets the fingerprint of its last error', async () => {
        const source = await setup()
        const target = await setup()
        const ids = await jobsInEveryState(source.store)
        const records = await source.store.jobExport({ limit: 100 })
        await target.store.jobImport({ records, now: T + 2000 })
        const copied = (await target.store.jobGet({ id: ids.failed }))!
        expect(copied.errorFingerprint).toBe(errorFingerprint(copied.errors.at(-1)!))
        expect(copied.errorFingerprint).toBe((await source.store.jobGet({ id: ids.failed }))?.errorFingerprint)
        const others = (await target.store.jobList({ limit: 100 })).filter((job) => job.state !== 'failed')
        expect(others.map((job) => job.errorFingerprint)).toEqual(others.map(() => undefined))
      })

      it('jobList by key finds every job with that key, of any task, also once the key is released', async () => {
        const { store } = await setup()
        const first = jobInsert({ key: 'order:1' })
        await store.jobInsertMany({ jobs: [first], now: T })
        const claimed = await claimOne(store, T + 10)
        await finish(store, finishOf(claimed, 'completed'), T + 20)
        const again = jobInsert({ key: 'order:1' })
        const otherTask = jobInsert({ key: 'order:1', task: 'other.task', queue: 'other' })
        await store.jobInsertMany({ jobs: [again, otherTask, jobInsert({ key: 'order:10' }), jobInsert()], now: T + 30 })
        expect((await store.jobList({ key: 'order:1', limit: 10 })).map((job) => job.id)).toEqual([otherTask.id, again.id, first.id])
        expect((await store.jobList({ key: 'order:1', states: ['completed'], limit: 10 })).map((job) => job.id)).toEqual([first.id])
        expect((await store.jobList({ key: 'order:1', task: 'other.task', limit: 10 })).map((job) => job.id)).toEqual([otherTask.id])
        expect((await store.jobList({ key: 'order:1', before: again.id, limit: 10 })).map((job) => job.id)).toEqual([first.id])
        expect(await store.jobList({ key: 'order', limit: 10 })).toEqual([])
      })

      it('jobList by fingerprint lists the failed jobs of one group, newest first, paged', async () => {
        const { store } = await setup()
        const group = [
          await failed(store, thrown('user 1 not found'), T + 20),
          await failed(store, thrown('user 2 not found'), T + 30),
          await failed(store, thrown('user 3 not found'), T + 40),
        ]
        await failed(store, thrown('user 4 not found', 'saveUser'), T + 50)
        // The same error on a job with attempts left: retrying, in no group.
        const job = jobInsert({ maxAttempts: 2 })
        await store.jobInsertMany({ jobs: [job], now: T + 60 })
        await finish(store, { ...ref(await claimOne(store, T + 60)), outcome: 'retry', error: thrown('user 5 not found'), delayMs: 1000 }, T + 70)
        const fingerprint = errorFingerprint(thrown('user 1 not found'))
        const listed = await store.jobList({ fingerprint, limit: 10 })
        expect(listed.map((job) => job.id)).toEqual([...group].reverse())
        expect(listed.every((job) => job.state === 'failed' && job.errorFingerprint === fingerprint)).toBe(true)
        const page = await store.jobList({ fingerprint, limit: 2 })
        expect(page.map((job) => job.id)).toEqual([group[2], group[1]])
        expect((await store.jobList({ fingerprint, before: page[1]!.id, limit: 2 })).map((job) => job.id)).toEqual([group[0]])
        expect(await store.jobList({ fingerprint, states: ['retrying'], limit: 10 })).toEqual([])
        expect(await store.jobList({ fingerprint, queue: 'elsewhere', limit: 10 })).toEqual([])
        expect(await store.jobList({ fingerprint: '0000000000000000', limit: 10 })).toEqual([])
      })

      it('jobFailureGroups counts each group, its first and last failure, tasks and queues, with its newest failure as the sample', async () => {
        const { store } = await setup()
        // Group "user": three failures over two tasks and queues. The job created first fails last:
        // the sample is the newest failure, not the newest job.
        const lastToFail = jobInsert({ maxAttempts: 1, task: 'users.sync', queue: 'sync' })
        await store.jobInsertMany({ jobs: [lastToFail], now: T })
        const lastClaim = await claimOne(store, T + 1, 60_000, 'sync')
        await failed(store, thrown('user 1 not found'), T + 100, { task: 'users.load' })
        await failed(store, thrown('user 2 not found'), T + 200, { task: 'users.load', queue: 'other' })
        const lastError = thrown('user 3 not found')
        await finish(store, { ...ref(lastClaim), outcome: 'failed', error: lastError }, T + 300)
        // Group "timeout": two failures, the latest later than the user group's: same count would
        // come first, but it has fewer.
        await failed(store, thrown('timed out after 30000 ms', 'fetch', 'TimeoutError'), T + 150)
        await failed(store, thrown('timed out after 10000 ms', 'fetch', 'TimeoutError'), T + 400)
        // Group "payment": one failure, without a stack.
        await failed(store, { name: 'PaymentError', message: 'card declined' }, T + 500, { task: 'pay', queue: 'pay' })
        // Not failed: in no group.
        await jobIn(store, 'retrying')
        await jobIn(store, 'completed')

        const user = errorFingerprint(lastError)
        const timeout = errorFingerprint(thrown('timed out after 1 ms', 'fetch', 'TimeoutError'))
        const payment = errorFingerprint({ name: 'PaymentError', message: 'card declined' })
        const groups = await store.jobFailureGroups({ limit: 10 })
        expect(groups).toEqual([
          {
            fingerprint: user,
            count: 3,
            firstSeenAt: new Date(T + 100),
            lastSeenAt: new Date(T + 300),
            tasks: ['users.load', 'users.sync'],
            queues: ['default', 'other', 'sync'],
            sample: { jobId: lastToFail.id, ...lastError },
          },
          {
            fingerprint: timeout,
            count: 2,
            firstSeenAt: new Date(T + 150),
            lastSeenAt: new Date(T + 400),
            tasks: ['test.task'],
            queues: ['default'],
            sample: { jobId: expect.any(String), ...thrown('timed out after 10000 ms', 'fetch', 'TimeoutError') },
          },
          {
            fingerprint: payment,
            count: 1,
            firstSeenAt: new Date(T + 500),
            lastSeenAt: new Date(T + 500),
            tasks: ['pay'],
            queues: ['pay'],
            sample: { jobId: expect.any(String), name: 'PaymentError', message: 'card declined' },
          },
        ])
        // Equal counts: the most recent failure first.
        await failed(store, { name: 'PaymentError', message: 'card declined' }, T + 600, { task: 'pay', queue: 'pay' })
        expect((await store.jobFailureGroups({ limit: 10 })).map((group) => group.fingerprint)).toEqual([user, payment, timeout])
        expect((await store.jobFailureGroups({ limit: 1 })).map((group) => group.fingerprint)).toEqual([user])

        // Narrowed to a queue or task, a group counts only those jobs, and its sample is one of them.
        const inDefault = await store.jobFailureGroups({ queue: 'default', limit: 10 })
        expect(inDefault.map((group) => [group.fingerprint, group.count])).toEqual([[timeout, 2], [user, 1]])
        expect(inDefault[1]).toMatchObject({ firstSeenAt: new Date(T + 100), lastSeenAt: new Date(T + 100), queues: ['default'], tasks: ['users.load'] })
        expect(inDefault[1]!.sample.message).toBe('user 1 not found')
        const byTask = await store.jobFailureGroups({ task: 'users.load', limit: 10 })
        expect(byTask.map((group) => [group.fingerprint, group.count, group.sample.message])).toEqual([[user, 2, 'user 2 not found']])
        expect(await store.jobFailureGroups({ task: 'nothing', limit: 10 })).toEqual([])

        // One group by its fingerprint.
        const one = await store.jobFailureGroups({ fingerprint: timeout, limit: 10 })
        expect(one).toEqual([groups[1]])

        // A retry takes a job out of its group.
        await store.jobRetry({ id: lastToFail.id, now: T + 700 })
        expect((await store.jobFailureGroups({ fingerprint: user, limit: 10 }))[0]).toMatchObject({ count: 2, lastSeenAt: new Date(T + 200) })
      })

      it('jobRetryGroup retries up to limit jobs of the group as jobRetry does, passing over jobs whose key is held', async () => {
        const { store } = await setup()
        const error = (n: number) => thrown(`user ${n} not found`)
        const fingerprint = errorFingerprint(error(0))
        const plain = [await failed(store, error(1), T + 20), await failed(store, error(2), T + 30)]
        // Its key is taken by a new job meanwhile: it stays failed.
        const blocked = await failed(store, error(3), T + 40, { key: 'k1' })
        const holder = jobInsert({ key: 'k1', runAt: T + 100_000 })
        await store.jobInsertMany({ jobs: [holder], now: T + 50 })
        // Two failed jobs with one key: the older is retried and holds it, the other stays failed.
        const keyedOlder = await failed(store, error(4), T + 60, { key: 'k2' })
        const keyedNewer = await failed(store, error(5), T + 70, { key: 'k2' })
        const otherQueue = await failed(store, error(6), T + 80, { queue: 'other' })
        const otherGroup = await failed(store, thrown('user 7 not found', 'saveUser'), T + 90)

        const ready = nextNote(store, (note) => note.kind === 'ready' && note.queue === 'default', 'ready default')
        expect(await store.jobRetryGroup({ fingerprint, queue: 'default', limit: 2, now: T + 1000 })).toBe(2)
        await ready
        // Oldest first.
        for (const id of plain) {
          const job = (await store.jobGet({ id }))!
          expect(job).toMatchObject({ state: 'queued', attempt: 0, runAt: new Date(T + 1000) })
          expect(job.finishedAt).toBeUndefined()
          expect(job.errorFingerprint).toBeUndefined()
          expect((await timeline(store, id)).at(-1)).toEqual(['retried', 'queued', 0])
        }
        // The next call passes over the blocked job and the second holder of k2; fewer than asked.
        expect(await store.jobRetryGroup({ fingerprint, queue: 'default', limit: 10, now: T + 1100 })).toBe(1)
        const states = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.jobGet({ id }))?.state))
        expect(await states([blocked, keyedOlder, keyedNewer, otherQueue, otherGroup])).toEqual(['failed', 'queued', 'failed', 'failed', 'failed'])
        expect((await store.jobGet({ id: blocked }))?.errorFingerprint).toBe(fingerprint)
        // The retried keyed job holds its key again: an enqueue with it gets that job back.
        expect(await store.jobInsertMany({ jobs: [jobInsert({ key: 'k2' })], now: T + 1200 })).toEqual([
          { id: keyedOlder, state: 'queued', existing: true },
        ])
        // Nothing more to retry in that scope.
        expect(await store.jobRetryGroup({ fingerprint, queue: 'default', limit: 10, now: T + 1300 })).toBe(0)
        // Without a scope, the rest of the group: the job in the other queue.
        expect(await store.jobRetryGroup({ fingerprint, limit: 10, now: T + 1400 })).toBe(1)
        expect(await states([otherQueue, otherGroup])).toEqual(['queued', 'failed'])
        expect(await store.jobFailureGroups({ fingerprint, limit: 10 })).toMatchObject([{ count: 2 }])
      })
    })

    // ─── Worker registry ──────────────────────────────────────────────────────────────────────

    describe('worker registry', () => {
      const beat = (id: string, now: number, overrides: Partial<WorkerBeatParams> = {}): WorkerBeatParams => ({
        id,
        host: 'host-a',
        pid: 4242,
        queues: ['default', 'mail'],
        concurrency: 8,
        startedAt: T - 60_000,
        now,
        ...overrides,
      })

      it('workerBeat registers a worker and updates it; workerList shows those seen within aliveMs', async () => {
        const { store } = await setup()
        await store.workerBeat(beat('w1', T))
        await store.workerBeat(beat('w2', T + 5000, { host: 'host-b', pid: 7, queues: ['images'], concurrency: 2, startedAt: T }))
        expect(await store.workerList({ aliveMs: 10_000, now: T + 10_000 })).toEqual([
          {
            id: 'w1',
            host: 'host-a',
            pid: 4242,
            queues: ['default', 'mail'],
            concurrency: 8,
            startedAt: new Date(T - 60_000),
            lastSeenAt: new Date(T),
            running: [],
          },
          {
            id: 'w2',
            host: 'host-b',
            pid: 7,
            queues: ['images'],
            concurrency: 2,
            startedAt: new Date(T),
            lastSeenAt: new Date(T + 5000),
            running: [],
          },
        ])
        expect((await store.workerList({ aliveMs: 10_000, now: T + 10_001 })).map((worker) => worker.id)).toEqual(['w2'])
        // A beat renews it, with what it says now.
        await store.workerBeat(beat('w1', T + 10_500, { queues: ['default'], concurrency: 4 }))
        expect(await store.workerList({ aliveMs: 1000, now: T + 11_000 })).toMatchObject([
          { id: 'w1', queues: ['default'], concurrency: 4, lastSeenAt: new Date(T + 10_500) },
        ])
      })

      it("workerList shows each worker's running jobs with their progress, and no one else's", async () => {
        const { store } = await setup()
        await store.workerBeat(beat('worker', T))
        await store.workerBeat(beat('idle', T))
        const [first, second, done] = [jobInsert(), jobInsert({ queue: 'mail', task: 'mail.send' }), jobInsert()]
        await store.jobInsertMany({ jobs: [first, second, done], now: T })
        const a = await claimOne(store, T + 10)
        const b = await claimOne(store, T + 20, 1000, 'mail')
        const c = await claimOne(store, T + 30)
        await finish(store, finishOf(c, 'completed'), T + 40)
        await store.jobNoteMany({ notes: [{ ...ref(b), progress: JSON.stringify({ sent: 3 }) }], now: T + 50 })
        // A job held by a worker that never beat (or was forgotten) shows under no one.
        await store.jobInsertMany({ jobs: [jobInsert({ queue: 'elsewhere' })], now: T })
        await store.jobClaim({ queues: ['elsewhere'], workerId: 'ghost', limit: 1, leaseMs: 1000, now: T + 60 })
        const workers = await store.workerList({ aliveMs: 1000, now: T + 100 })
        expect(workers.map((worker) => [worker.id, worker.running])).toEqual([
          ['idle', []],
          [
            'worker',
            [
              { id: a.id, task: 'test.task', queue: 'default', attempt: 1, startedAt: new Date(T + 10) },
              { id: b.id, task: 'mail.send', queue: 'mail', attempt: 1, startedAt: new Date(T + 20), progress: { sent: 3 } },
            ],
          ],
        ])
      })

      it('workerRemove forgets a worker at once, and is idempotent', async () => {
        const { store } = await setup()
        await store.workerBeat(beat('w1', T))
        await store.workerBeat(beat('w2', T))
        await store.workerRemove({ id: 'w1' })
        await store.workerRemove({ id: 'w1' })
        await store.workerRemove({ id: 'never' })
        expect((await store.workerList({ aliveMs: 1000, now: T })).map((worker) => worker.id)).toEqual(['w2'])
      })

      it('jobPrune forgets workers not seen for a day', async () => {
        const { store } = await setup()
        await store.workerBeat(beat('dead', T))
        await store.workerBeat(beat('alive', T + WORKER_FORGET_MS))
        const prune = { olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 10 }
        await store.jobPrune({ ...prune, now: T + WORKER_FORGET_MS - 1 })
        const everyone = { aliveMs: 10 * WORKER_FORGET_MS, now: T + WORKER_FORGET_MS + 1 }
        // Started at the same time: by id.
        expect((await store.workerList(everyone)).map((worker) => worker.id)).toEqual(['alive', 'dead'])
        await store.jobPrune({ ...prune, now: T + WORKER_FORGET_MS + 1 })
        expect((await store.workerList(everyone)).map((worker) => worker.id)).toEqual(['alive'])
      })
    })

    // ─── Migrations ───────────────────────────────────────────────────────────────────────────

    describe('migrations', () => {
      it('migrate is idempotent', async () => {
        const { store } = await setup()
        const first = await store.migrate()
        expect(first.applied).toEqual([])
        expect(await store.migrate()).toEqual(first)
        expect(first.version).toBeGreaterThan(0)
      })

      it('connections migrating a fresh database at once apply each version exactly once', async () => {
        const { store, open } = await setup({ migrated: false })
        const connections = [store, ...(await Promise.all(Array.from({ length: 4 }, () => open())))]
        const results = await Promise.all(connections.map((connection) => connection.migrate()))
        const applied = results.flatMap((result) => result.applied)
        expect(applied.length).toBeGreaterThan(0)
        expect(new Set(applied).size).toBe(applied.length)
        const version = Math.max(...applied)
        for (const result of results) expect(result.version).toBe(version)
        expect(await store.migrate()).toEqual({ applied: [], version })
        // The schema works from every connection.
        const job = jobInsert()
        await connections[1]!.jobInsertMany({ jobs: [job], now: T })
        expect((await connections[4]!.jobGet({ id: job.id }))?.state).toBe('queued')
      })
    })

    // ─── Closed store ─────────────────────────────────────────────────────────────────────────

    describe('closed store', () => {
      it('every call after close rejects with CLOSED', async () => {
        const { store } = await setup()
        const job = jobInsert()
        await store.jobInsertMany({ jobs: [job], now: T })
        await store.close()
        const leases = [{ id: job.id, lease: 1 }]
        // Typed by the contract: a method added to Store and missing here is a compile error.
        const calls: Record<Exclude<keyof Store, 'description' | 'capabilities' | 'close' | 'listen'>, () => Promise<unknown>> = {
          migrate: () => store.migrate(),
          now: () => store.now(),
          jobInsertMany: () => store.jobInsertMany({ jobs: [jobInsert()], now: T }),
          jobGet: () => store.jobGet({ id: job.id }),
          jobList: () => store.jobList({ limit: 10 }),
          jobCounts: () => store.jobCounts(),
          jobClaim: () => store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 1000, now: T }),
          jobHeartbeat: () => store.jobHeartbeat({ leases, leaseMs: 1000, now: T }),
          jobFinishMany: () => store.jobFinishMany({ finishes: [{ ...leases[0]!, outcome: 'released' }], now: T }),
          jobNoteMany: () => store.jobNoteMany({ notes: [{ ...leases[0]!, log: 'x' }], now: T }),
          jobCancel: () => store.jobCancel({ id: job.id, now: T }),
          jobRetry: () => store.jobRetry({ id: job.id, now: T }),
          jobPromote: () => store.jobPromote({ limit: 10, now: T }),
          jobNextDue: () => store.jobNextDue(),
          jobRescue: () => store.jobRescue({ limit: 10, now: T }),
          jobPrune: () => store.jobPrune({ olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 10, now: T }),
          eventList: () => store.eventList({ limit: 10 }),
          eventLastSeq: () => store.eventLastSeq(),
          jobExport: () => store.jobExport({ limit: 10 }),
          jobImport: () => store.jobImport({ records: [], now: T }),
          leaderElect: () => store.leaderElect({ name: 'm', owner: 'a', ttlMs: 1000, now: T }),
          leaderResign: () => store.leaderResign({ name: 'm', owner: 'a' }),
          queueList: () => store.queueList(),
          queuePause: () => store.queuePause({ queue: 'default', now: T }),
          queueResume: () => store.queueResume({ queue: 'default', now: T }),
          queueCountsCompact: () => store.queueCountsCompact({ limit: 10 }),
          jobWebhookDispatch: () =>
            store.jobWebhookDispatch({ limit: 10, delivery: { task: 'offload.webhook', queue: 'webhooks', maxAttempts: 1 }, now: T }),
          jobDelete: () => store.jobDelete({ id: job.id }),
          eventAppend: () => store.eventAppend({ jobId: job.id, type: 'webhook', data: {}, now: T }),
          jobFailureGroups: () => store.jobFailureGroups({ limit: 10 }),
          jobRetryGroup: () => store.jobRetryGroup({ fingerprint: '0123456789abcdef', limit: 10, now: T }),
          workerBeat: () => store.workerBeat({ id: 'w', host: 'h', pid: 1, queues: ['default'], concurrency: 1, startedAt: T, now: T }),
          workerRemove: () => store.workerRemove({ id: 'w' }),
          workerList: () => store.workerList({ aliveMs: 1000, now: T }),
          jobDebounce: () => store.jobDebounce({ job: jobInsert(), key: 'k', delayMs: 1000, now: T }),
          jobThrottle: () => store.jobThrottle({ job: jobInsert(), key: 'k', windowMs: 1000, now: T }),
          scheduleUpsert: () =>
            store.scheduleUpsert({
              name: 's', task: 't', queue: 'default', cron: '* * * * *', timezone: 'UTC', payload: 'null', job: { priority: 0, maxAttempts: 1 },
              catchUp: 0, source: 'api', nextRunAt: T, now: T,
            }),
          scheduleGet: () => store.scheduleGet({ name: 's' }),
          scheduleList: () => store.scheduleList(),
          scheduleDelete: () => store.scheduleDelete({ name: 's' }),
          scheduleTick: () => store.scheduleTick({ name: 's', due: T, next: T + 1000, ticks: [], jobs: [], now: T }),
          breakerRecord: () => store.breakerRecord({ outcomes: [], settings: new Map(), now: T }),
          breakerProbe: () => store.breakerProbe({ task: 't', now: T }),
          breakerList: () => store.breakerList({ now: T }),
          breakerReset: () => store.breakerReset({ task: 't', now: T }),
        }
        for (const [name, call] of Object.entries(calls)) await expectCode(call, 'CLOSED', name)
      })

      it('close is idempotent', async () => {
        const { store } = await setup()
        const unlisten = store.listen(() => {})
        await store.close()
        await store.close()
        unlisten()
      })

      it('close waits for writes already submitted', async () => {
        const { store, open } = await setup()
        const job = jobInsert()
        const pending = store.jobInsertMany({ jobs: [job], now: T })
        await store.close()
        expect(await pending).toEqual([{ id: job.id, state: 'queued', existing: false }])
        const other = await open()
        expect((await other.jobGet({ id: job.id }))?.state).toBe('queued')
      })
    })

    it.checkSkips()
  })
}

// ─── Helpers ──────────────────────────────────────────────────────────────────────────────────

/**
 * Call inside a `describe`: each test's bundle — a database, its first connection, and a way to
 * open more — all closed and dropped after the test. For the store-specific conformance files too.
 */
export function databaseSetup(harness: StoreHarness): (options?: { migrated?: boolean }) => Promise<Bundle> {
  const cleanups: (() => Promise<void>)[] = []

  afterEach(async () => {
    // Connections first, then their databases; an error in one cleanup must not leak the rest.
    const errors: unknown[] = []
    for (const cleanup of cleanups.splice(0)) {
      try {
        await cleanup()
      } catch (error) {
        errors.push(error)
      }
    }
    if (errors.length > 0) throw errors[0]
  })

  return async (options = {}) => {
    const database = await harness.createDatabase(options)
    const stores: Store[] = []
    cleanups.push(async () => {
      for (const store of stores) await store.close()
      await database.destroy()
    })
    const open = async (): Promise<Store> => {
      const store = await database.open()
      stores.push(store)
      return store
    }
    return { store: await open(), open }
  }
}

export interface Bundle {
  /** The test's first connection. */
  store: Store
  /** Another connection to the same database, closed after the test. */
  open(): Promise<Store>
}

/**
 * `test`, with the harness's skips applied by name. Names must be unique, and a skip that names no
 * test fails the run, so a renamed test cannot silently lose its skip or its coverage.
 */
function conformanceTest(harness: StoreHarness) {
  const reasons = new Map<string, string>()
  for (const skip of harness.skip ?? []) for (const name of skip.tests) reasons.set(name, skip.reason)
  const declared = new Set<string>()
  const it = (name: string, fn: (context: TestContext) => Promise<void>): void => {
    if (declared.has(name)) throw new Error(`two conformance tests are named '${name}'`)
    declared.add(name)
    const reason = reasons.get(name)
    if (reason === undefined) test(name, (context) => fn(context))
    else test.skip(`${name} — skipped: ${reason}`, () => {})
  }
  it.checkSkips = (): void => {
    const unknown = [...reasons.keys()].filter((name) => !declared.has(name))
    if (unknown.length > 0) throw new Error(`${harness.name} skips tests the suite does not have: ${unknown.join(', ')}`)
  }
  return it
}

let defaults = 0

/** A valid insert in queue `default` of task `test.task`, due now unless told otherwise. */
export function jobInsert(overrides: Partial<JobInsert> = {}): JobInsert {
  return {
    id: uuidv7(),
    task: 'test.task',
    queue: 'default',
    payload: JSON.stringify({ n: defaults++ }),
    priority: 0,
    maxAttempts: 3,
    ...overrides,
  }
}

async function claimOne(store: Store, now: number, leaseMs = 1000, queue = 'default'): Promise<ClaimedJob> {
  const claimed = await store.jobClaim({ queues: [queue], workerId: 'worker', limit: 1, leaseMs, now })
  expect(claimed, 'a job to claim').toHaveLength(1)
  return claimed[0]!
}

function ref(job: { id: string; lease: number }): { id: string; lease: number } {
  return { id: job.id, lease: job.lease }
}

/** Applies one finish and expects it to hold. */
async function finish(store: Store, outcome: JobFinish, now: number): Promise<void> {
  expect(await store.jobFinishMany({ finishes: [outcome], now }), `${outcome.outcome} applied`).toEqual([true])
}

function finishOf(job: ClaimedJob, outcome: JobFinish['outcome']): JobFinish {
  switch (outcome) {
    case 'completed':
      return { ...ref(job), outcome, result: '"ok"' }
    case 'retry':
      return { ...ref(job), outcome, error: boom(), delayMs: 1000 }
    case 'failed':
      return { ...ref(job), outcome, error: boom() }
    case 'snoozed':
      return { ...ref(job), outcome, delayMs: 1000 }
    case 'released':
      return { ...ref(job), outcome }
  }
}

function boom(): { name: string; message: string; stack: string } {
  return { name: 'Error', message: 'boom', stack: 'Error: boom\n    at test' }
}

/**
 * A job brought to `state` through the store's own operations, all by `T + 20`. Running jobs hold
 * a lease until `T + 1010`; retrying ones are due at `T + 1010`; scheduled ones at `T + 1000`.
 */
async function jobIn(store: Store, state: JobState, overrides: Partial<JobInsert> = {}): Promise<string> {
  const job = jobInsert({ runAt: state === 'scheduled' ? T + 1000 : undefined, ...overrides })
  await store.jobInsertMany({ jobs: [job], now: T })
  if (state === 'queued' || state === 'scheduled') return job.id
  const [claimed] = await store.jobClaim({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 1000, now: T + 10 })
  expect(claimed?.id).toBe(job.id)
  const finishAt = T + 20
  if (state === 'running') return job.id
  if (state === 'retrying') await finish(store, { ...ref(claimed!), outcome: 'retry', error: boom(), delayMs: 990 }, finishAt)
  if (state === 'completed') await finish(store, { ...ref(claimed!), outcome: 'completed', result: '1' }, finishAt)
  if (state === 'failed') await finish(store, { ...ref(claimed!), outcome: 'failed', error: boom() }, finishAt)
  if (state === 'cancelled') await store.jobCancel({ id: job.id, now: finishAt })
  expect((await store.jobGet({ id: job.id }))?.state).toBe(state)
  return job.id
}

/**
 * Jobs in every state — each on its own queue, named after its role, so each claim takes the one
 * meant — made through the store's own operations by `T + 1500`, carrying what a copy must keep:
 * keys and TTLs, metadata, backoff, errors with stacks, results, progress and log lines.
 */
async function jobsInEveryState(store: Store) {
  const make = (queue: string, overrides: Partial<JobInsert> = {}) => jobInsert({ queue, ...overrides })
  const jobs = {
    scheduled: make('scheduled', {
      runAt: T + 5000,
      priority: 3,
      metadata: JSON.stringify({ tenant: 'acme', trace: { id: 'abc' } }),
      timeoutMs: 30_000,
      backoff: { type: 'exponential', base: 1000, factor: 2, max: 60_000, jitter: 0.5 },
      key: 'scheduled',
      keyTtlMs: 5000,
    }),
    queued: make('queued', { key: 'queued' }),
    released: make('released'),
    rescued: make('rescued'),
    running: make('running', { key: 'running', maxAttempts: 2 }),
    retrying: make('retrying', { backoff: { type: 'fixed', delay: 250, jitter: 0 } }),
    completed: make('completed', { key: 'completed', keyTtlMs: 60_000, payload: JSON.stringify(['a', 1, null]) }),
    failed: make('failed', { maxAttempts: 2 }),
    cancelled: make('cancelled'),
    snoozed: make('snoozed', { maxAttempts: 1 }),
  }
  await store.jobInsertMany({ jobs: Object.values(jobs), now: T })
  const claim = (queue: keyof typeof jobs, now: number, leaseMs = 1000) => claimOne(store, now, leaseMs, queue)
  const error = (message: string) => ({ name: 'TypeError', message, stack: `TypeError: ${message}\n    at handler (tasks.ts:1:1)` })

  await finish(store, finishOf(await claim('released', T + 10), 'released'), T + 11)
  await claim('rescued', T + 10)
  const running = await claim('running', T + 10, 60_000)
  await store.jobNoteMany({ notes: [{ ...ref(running), progress: JSON.stringify({ done: 1, of: 2 }), log: 'halfway' }], now: T + 20 })
  await finish(store, { ...ref(await claim('retrying', T + 10)), outcome: 'retry', error: error('flaky'), delayMs: 1000 }, T + 20)
  const completed = await claim('completed', T + 10)
  await store.jobNoteMany({ notes: [{ ...ref(completed), progress: '100', log: 'done' }], now: T + 20 })
  await finish(store, { ...ref(completed), outcome: 'completed', result: JSON.stringify({ ok: true, sizes: [1, 2] }) }, T + 30)
  await finish(store, { ...ref(await claim('failed', T + 10)), outcome: 'retry', error: error('first'), delayMs: 0 }, T + 20)
  await store.jobPromote({ limit: 10, now: T + 20 })
  await finish(store, { ...ref(await claim('failed', T + 30)), outcome: 'failed', error: error('second') }, T + 40)
  await claim('cancelled', T + 10)
  await store.jobCancel({ id: jobs.cancelled.id, now: T + 20 })
  await finish(store, { ...ref(await claim('snoozed', T + 10)), outcome: 'snoozed', delayMs: 2000 }, T + 20)
  expect(await store.jobRescue({ limit: 10, now: T + 1500 })).toBe(1)

  const ids = Object.fromEntries(Object.entries(jobs).map(([role, job]) => [role, job.id])) as Record<keyof typeof jobs, string>
  const states = Object.fromEntries(await Promise.all(Object.entries(ids).map(async ([role, id]) => [role, (await store.jobGet({ id }))?.state])))
  expect(states).toEqual({
    scheduled: 'scheduled',
    queued: 'queued',
    released: 'queued',
    rescued: 'queued',
    running: 'running',
    retrying: 'retrying',
    completed: 'completed',
    failed: 'failed',
    cancelled: 'cancelled',
    snoozed: 'scheduled',
  })
  return ids
}

/** An event as an export carries it: without what the job itself says. */
function recordEvent({ seq: _seq, jobId: _jobId, task: _task, queue: _queue, ...event }: JobEvent): JobRecordEvent {
  return event
}

/** Events without their `seq`, which each store numbers itself. */
function withoutSeq(events: JobEvent[]): Omit<JobEvent, 'seq'>[] {
  return events.map(({ seq: _seq, ...event }) => event)
}

/** A job's events as `[type, state, attempt]`. */
async function timeline(store: Store, id: string): Promise<[string, JobState, number][]> {
  return (await store.eventList({ jobId: id, limit: 1000 })).map((event) => [event.type, event.state, event.attempt])
}

/**
 * Expects `jobCounts` and `queueList` to say what a recount of every job (read through `jobList`)
 * says: the jobs per queue and state, and per queue the run time of the oldest queued job.
 */
async function expectCountsMatch(store: Store, what: string): Promise<void> {
  const jobs: JobInfo[] = []
  for (let before: string | undefined; ; ) {
    const page = await store.jobList({ limit: 500, before })
    jobs.push(...page)
    if (page.length < 500) break
    before = page.at(-1)!.id
  }
  const recount = new Map<string, { counts: Record<JobState, number>; oldest?: number }>()
  for (const job of jobs) {
    let queue = recount.get(job.queue)
    if (queue === undefined) recount.set(job.queue, (queue = { counts: counts({}) }))
    queue.counts[job.state]++
    if (job.state === 'queued') queue.oldest = Math.min(queue.oldest ?? Infinity, job.runAt.getTime())
  }
  const order = (a: { queue: string; state?: string }, b: { queue: string; state?: string }): number =>
    a.queue.localeCompare(b.queue) || (a.state ?? '').localeCompare(b.state ?? '')
  const expected = [...recount].flatMap(([queue, { counts }]) =>
    Object.entries(counts)
      .filter(([, count]) => count > 0)
      .map(([state, count]) => ({ queue, state, count })),
  )
  expect([...(await store.jobCounts())].sort(order), `jobCounts ${what}`).toEqual(expected.sort(order))
  const listed = (await store.queueList()).filter((queue) => Object.values(queue.counts).some((count) => count > 0))
  expect(
    listed.map((queue) => ({ queue: queue.queue, counts: queue.counts, oldest: queue.oldestQueuedAt?.getTime() })).sort(order),
    `queueList ${what}`,
  ).toEqual([...recount].map(([queue, { counts, oldest }]) => ({ queue, counts, oldest })).sort(order))
}

/** Per-state counts as `queueList` reports them: every state, 0 unless given. */
function counts(some: Partial<Record<JobState, number>>): Record<JobState, number> {
  return { scheduled: 0, queued: 0, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0, ...some }
}

function expectIncreasing(events: JobEvent[]): void {
  for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq)
}

/** Expects `call` to return a promise that rejects with an OffloadError of `code` (not to throw), and returns the error. */
async function expectCode(call: () => Promise<unknown>, code: OffloadErrorCode, what: string = code): Promise<OffloadError> {
  let promise: Promise<unknown>
  try {
    promise = call()
  } catch (error) {
    throw new Error(`${what}: threw synchronously instead of returning a rejected promise: ${String(error)}`)
  }
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ rejected: error }),
  )
  if (!('rejected' in outcome)) throw new Error(`${what}: resolved (${JSON.stringify(outcome.resolved)}) instead of rejecting with ${code}`)
  expect(isOffloadError(outcome.rejected, code), `${what}: rejected with ${String(outcome.rejected)}, wanted ${code}`).toBe(true)
  return outcome.rejected as OffloadError
}

/**
 * Resolves with the first note `match` accepts, or rejects after a generous timeout. Subscribe
 * before the write that should cause it; the listener and timer are gone either way.
 */
function nextNote(store: Store, match: (note: StoreNote) => boolean, what: string): Promise<StoreNote> {
  return new Promise<StoreNote>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      unlisten()
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`no ${what} note within ${NOTE_TIMEOUT_MS} ms`))
    }, NOTE_TIMEOUT_MS)
    const unlisten = store.listen((note) => {
      if (!match(note)) return
      done()
      resolve(note)
    })
  })
}
