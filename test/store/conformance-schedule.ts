/**
 * The schedules part of the Store conformance suite: keeping schedules, and the atomic tick that
 * makes schedulers in several processes enqueue each tick once. Like the main suite it speaks only
 * the `Store` interface; time is the `now` parameter and tick times are plain numbers, since
 * stores never read cron expressions.
 */
import { describe, expect, onTestFinished, test } from 'vitest'
import { uuidv7 } from '../../src/ids.js'
import type { JobInsert, ScheduleUpsertParams, Store, StoreNote } from '../../src/store/store.js'
import type { StoreHarness } from './conformance.js'

const T = 1_700_000_000_000

export function describeScheduleConformance(harness: StoreHarness): void {
  describe(`Store conformance (schedules): ${harness.name}`, () => {
    /** A database and `connections` connections to it, as that many processes would hold. */
    async function setup(connections = 1): Promise<Store[]> {
      const database = await harness.createDatabase()
      const stores: Store[] = []
      // Connections first, then their database (whose destroy recounts the job counts).
      onTestFinished(async () => {
        try {
          for (const store of stores) await store.close()
        } finally {
          await database.destroy()
        }
      })
      for (let i = 0; i < connections; i++) stores.push(await database.open())
      return stores
    }

    test('upsert creates a schedule that get and list return as written', async () => {
      const [store] = await setup()
      const written = await store!.scheduleUpsert(schedule({ name: 'nightly', payload: '{"report":"sales"}', now: T }))
      const expected = {
        name: 'nightly',
        task: 'report.build',
        queue: 'reports',
        cron: '0 0 3 * * *',
        timezone: 'Europe/Paris',
        payload: { report: 'sales' },
        job: { priority: 2, maxAttempts: 4, timeoutMs: 30_000, metadata: { team: 'bi' } },
        catchUp: 0,
        paused: false,
        source: 'code',
        nextRunAt: new Date(T + 60_000),
        createdAt: new Date(T),
        updatedAt: new Date(T),
      }
      expect(written).toEqual(expected)
      expect(await store!.scheduleGet({ name: 'nightly' })).toEqual(expected)
      await store!.scheduleUpsert(schedule({ name: 'a-first', now: T }))
      expect((await store!.scheduleList()).map((s) => s.name)).toEqual(['a-first', 'nightly'])
      expect(await store!.scheduleGet({ name: 'missing' })).toBeUndefined()
    })

    test('upserting the same definition again keeps the next run and the update time; a new cron or time zone takes the new next run', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ nextRunAt: T + 60_000, now: T }))
      // Another process starting later declares the same schedule: its own next run is later.
      const again = await store!.scheduleUpsert(schedule({ nextRunAt: T + 120_000, now: T + 90_000 }))
      expect(again.nextRunAt).toEqual(new Date(T + 60_000))
      expect(again.updatedAt).toEqual(new Date(T))
      // A payload change is an update, but the ticks stay where they were.
      const payload = await store!.scheduleUpsert(schedule({ payload: '2', nextRunAt: T + 120_000, now: T + 91_000 }))
      expect(payload).toMatchObject({ payload: 2, nextRunAt: new Date(T + 60_000), updatedAt: new Date(T + 91_000) })
      const cron = await store!.scheduleUpsert(schedule({ cron: '0 0 4 * * *', nextRunAt: T + 150_000, now: T + 92_000 }))
      expect(cron).toMatchObject({ cron: '0 0 4 * * *', nextRunAt: new Date(T + 150_000), updatedAt: new Date(T + 92_000), createdAt: new Date(T) })
      const zone = await store!.scheduleUpsert(schedule({ cron: '0 0 4 * * *', timezone: 'UTC', nextRunAt: T + 160_000, now: T + 93_000 }))
      expect(zone.nextRunAt).toEqual(new Date(T + 160_000))
      const never = await store!.scheduleUpsert(schedule({ cron: '0 0 0 30 2 *', timezone: 'UTC', nextRunAt: null, now: T + 94_000 }))
      expect(never.nextRunAt).toBeUndefined()
    })

    test('paused: kept when an upsert does not say; resuming takes the new next run', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ paused: true, nextRunAt: T + 60_000, now: T }))
      const declared = await store!.scheduleUpsert(schedule({ nextRunAt: T + 120_000, now: T + 1 }))
      expect(declared).toMatchObject({ paused: true, nextRunAt: new Date(T + 60_000) })
      const resumed = await store!.scheduleUpsert(schedule({ paused: false, nextRunAt: T + 180_000, now: T + 2 }))
      expect(resumed).toMatchObject({ paused: false, nextRunAt: new Date(T + 180_000), updatedAt: new Date(T + 2) })
      const paused = await store!.scheduleUpsert(schedule({ paused: true, nextRunAt: T + 240_000, now: T + 3 }))
      expect(paused).toMatchObject({ paused: true, nextRunAt: new Date(T + 180_000) })
    })

    test('delete removes a schedule and says whether there was one; its jobs stay', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ nextRunAt: T, now: T }))
      const job = tickJob(T)
      expect(await store!.scheduleTick({ name: 'nightly', due: T, next: T + 1000, ticks: [T], jobs: [job], now: T })).toBe(true)
      expect(await store!.scheduleDelete({ name: 'nightly' })).toBe(true)
      expect(await store!.scheduleDelete({ name: 'nightly' })).toBe(false)
      expect(await store!.scheduleGet({ name: 'nightly' })).toBeUndefined()
      expect((await store!.jobGet({ id: job.id }))?.state).toBe('queued')
      // A tick of a deleted schedule writes nothing.
      expect(await store!.scheduleTick({ name: 'nightly', due: T + 1000, next: T + 2000, ticks: [T + 1000], jobs: [tickJob(T + 1000)], now: T })).toBe(
        false,
      )
      expect(await store!.jobList({ limit: 10 })).toHaveLength(1)
    })

    test('a tick moves the next run and creates its jobs as an enqueue does: events, counts, notes', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ nextRunAt: T, now: T }))
      const notes: StoreNote[] = []
      const unlisten = store!.listen((note) => notes.push(note))
      const jobs = [tickJob(T - 1000), tickJob(T)]
      expect(await store!.scheduleTick({ name: 'nightly', due: T, next: T + 1000, ticks: [T - 1000, T], jobs, now: T })).toBe(true)
      unlisten()
      expect(await store!.scheduleGet({ name: 'nightly' })).toMatchObject({ nextRunAt: new Date(T + 1000), lastRunAt: new Date(T) })
      for (const job of jobs) {
        expect(await store!.jobGet({ id: job.id })).toMatchObject({ state: 'queued', queue: 'reports', runAt: new Date(job.runAt!) })
        expect((await store!.eventList({ jobId: job.id, limit: 10 })).map((event) => event.type)).toEqual(['enqueued'])
      }
      expect(await store!.jobCounts()).toEqual([{ queue: 'reports', state: 'queued', count: 2 }])
      expect(notes).toContainEqual({ kind: 'ready', queue: 'reports' })
    })

    test('a tick that skips missed ticks moves the next run without jobs and keeps the last run', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ nextRunAt: T, now: T }))
      expect(await store!.scheduleTick({ name: 'nightly', due: T, next: T + 1000, ticks: [T], jobs: [tickJob(T)], now: T })).toBe(true)
      expect(await store!.scheduleTick({ name: 'nightly', due: T + 1000, next: T + 90_000, ticks: [], jobs: [], now: T + 89_500 })).toBe(true)
      expect(await store!.scheduleGet({ name: 'nightly' })).toMatchObject({ nextRunAt: new Date(T + 90_000), lastRunAt: new Date(T) })
      // The last tick of an expression that never fires again.
      expect(await store!.scheduleTick({ name: 'nightly', due: T + 90_000, next: null, ticks: [T + 90_000], jobs: [tickJob(T + 90_000)], now: T + 90_000 })).toBe(
        true,
      )
      const done = await store!.scheduleGet({ name: 'nightly' })
      expect(done?.nextRunAt).toBeUndefined()
      expect(done?.lastRunAt).toEqual(new Date(T + 90_000))
    })

    test('a tick whose due time is no longer the next run, or of a paused schedule, writes nothing', async () => {
      const [store] = await setup()
      await store!.scheduleUpsert(schedule({ nextRunAt: T, now: T }))
      expect(await store!.scheduleTick({ name: 'nightly', due: T - 1000, next: T + 1000, ticks: [T - 1000], jobs: [tickJob(T - 1000)], now: T })).toBe(false)
      await store!.scheduleUpsert(schedule({ paused: true, nextRunAt: T, now: T }))
      expect(await store!.scheduleTick({ name: 'nightly', due: T, next: T + 1000, ticks: [T], jobs: [tickJob(T)], now: T })).toBe(false)
      expect(await store!.jobList({ limit: 10 })).toEqual([])
      expect(await store!.scheduleGet({ name: 'nightly' })).toMatchObject({ nextRunAt: new Date(T) })
      expect((await store!.scheduleGet({ name: 'nightly' }))?.lastRunAt).toBeUndefined()
    })

    test('three connections racing the same tick: exactly one wins, and the tick has exactly one job', async () => {
      const stores = await setup(3)
      await stores[0]!.scheduleUpsert(schedule({ nextRunAt: T, now: T }))
      for (let round = 0; round < 5; round++) {
        const due = T + round * 1000
        // Each "process" built its own job for the tick, as a scheduler does.
        const jobs = stores.map(() => tickJob(due))
        const won = await Promise.all(
          stores.map((store, i) => store.scheduleTick({ name: 'nightly', due, next: due + 1000, ticks: [due], jobs: [jobs[i]!], now: due })),
        )
        expect(won.filter(Boolean), `round ${round}`).toHaveLength(1)
        const stored = await Promise.all(jobs.map((job) => stores[0]!.jobGet({ id: job.id })))
        expect(stored.filter((job) => job !== undefined), `round ${round}`).toHaveLength(1)
        expect(stored[won.indexOf(true)]?.runAt).toEqual(new Date(due))
      }
      expect(await stores[1]!.scheduleGet({ name: 'nightly' })).toMatchObject({ nextRunAt: new Date(T + 5000), lastRunAt: new Date(T + 4000) })
      expect(await stores[2]!.jobCounts()).toEqual([{ queue: 'reports', state: 'queued', count: 5 }])
    })
  })
}

function schedule(overrides: Partial<ScheduleUpsertParams> = {}): ScheduleUpsertParams {
  return {
    name: 'nightly',
    task: 'report.build',
    queue: 'reports',
    cron: '0 0 3 * * *',
    timezone: 'Europe/Paris',
    payload: 'null',
    job: { priority: 2, maxAttempts: 4, timeoutMs: 30_000, metadata: { team: 'bi' } },
    catchUp: 0,
    source: 'code',
    nextRunAt: T + 60_000,
    ...overrides,
  }
}

/** The job a scheduler makes for the tick at `at`. */
function tickJob(at: number): JobInsert {
  return { id: uuidv7(), task: 'report.build', queue: 'reports', payload: 'null', priority: 2, maxAttempts: 4, runAt: at }
}
