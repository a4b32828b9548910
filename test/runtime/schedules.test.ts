import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, silentLogger, type Offload, type OffloadConfig, type ScheduleInfo, type Store } from '../../src/index.js'
import { CronExpression } from '../../src/schedules/cron.js'
import { Scheduler } from '../../src/schedules/scheduler.js'
import { planTick } from '../../src/schedules/tick-plan.js'
import { eventually } from '../support/eventually.js'
import { STORE_KINDS } from '../support/stores.js'

const open: Offload[] = []
const schedulers: Scheduler[] = []

afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.stop()))
  await Promise.all(open.splice(0).map((offload) => offload.close({ grace: 0 })))
})

function instance(store: string, config: OffloadConfig = {}): Offload {
  const offload = createOffload({ store, logger: false, ...config })
  open.push(offload)
  return offload
}

const T = Date.UTC(2024, 0, 15, 12, 0, 0)

function stored(overrides: Partial<ScheduleInfo> = {}): ScheduleInfo {
  return {
    name: 's',
    task: 't',
    queue: 'default',
    cron: '* * * * * *',
    timezone: 'UTC',
    payload: null,
    job: { priority: 0, maxAttempts: 1 },
    catchUp: 0,
    paused: false,
    source: 'api',
    nextRunAt: new Date(T),
    createdAt: new Date(T - 1000),
    updatedAt: new Date(T - 1000),
    ...overrides,
  }
}

describe('tick plans: on time, late, missed', () => {
  test('a schedule not yet due, paused or finished has no plan', () => {
    expect(planTick(stored(), T - 1)).toBeUndefined()
    expect(planTick(stored({ paused: true }), T + 5000)).toBeUndefined()
    const { nextRunAt: _none, ...finished } = stored()
    expect(planTick(finished, T + 5000)).toBeUndefined()
  })

  test('ticks less late than the grace are all enqueued, oldest first, and the next run is the first tick after now', () => {
    expect(planTick(stored(), T + 2500, 60_000)).toEqual({ due: T, ticks: [T, T + 1000, T + 2000], next: T + 3000 })
    expect(planTick(stored(), T, 60_000)).toEqual({ due: T, ticks: [T], next: T + 1000 })
  })

  test('after downtime longer than the grace, missed ticks are skipped by default: the schedule goes on from its next tick', () => {
    const hourly = stored({ cron: '0 * * * *' })
    expect(planTick(hourly, T + 3 * 3_600_000 + 120_000, 60_000)).toEqual({ due: T, ticks: [], next: T + 4 * 3_600_000 })
  })

  test('catchUp n enqueues the n most recent missed ticks, oldest first, then the late ones', () => {
    const hourly = stored({ cron: '0 * * * *', catchUp: 2 })
    expect(planTick(hourly, T + 3 * 3_600_000 + 120_000, 60_000)?.ticks).toEqual([T + 2 * 3_600_000, T + 3 * 3_600_000])
    // More allowed than were missed: all of them, never one before the stored next run.
    const generous = stored({ cron: '0 * * * *', catchUp: 10 })
    expect(planTick(generous, T + 2 * 3_600_000 + 120_000, 60_000)?.ticks).toEqual([T, T + 3_600_000, T + 2 * 3_600_000])
    // Missed ticks, then the ones within the grace.
    const everySecond = stored({ catchUp: 2 })
    expect(planTick(everySecond, T + 10_500, 3000)?.ticks).toEqual([T + 6000, T + 7000, T + 8000, T + 9000, T + 10_000])
  })

  test('expressions are read in their time zone, daylight saving time included', () => {
    const paris = CronExpression.parse('0 0 3 * * *', 'Europe/Paris', T)
    expect(new Date(paris.nextAfter(Date.UTC(2024, 2, 30, 12))!).toISOString()).toBe('2024-03-31T01:00:00.000Z')
    expect(new Date(paris.nextAfter(Date.UTC(2024, 2, 31, 12))!).toISOString()).toBe('2024-04-01T01:00:00.000Z')
    expect(new Date(paris.nextAfter(Date.UTC(2024, 0, 1, 12))!).toISOString()).toBe('2024-01-02T02:00:00.000Z')
    expect(CronExpression.parse('*/15 * * * *', 'utc', T).timezone).toBe('UTC')
  })
})

describe('schedule options', () => {
  test('bad expressions, time zones, options and tasks are refused with a clear error, and nothing is written', async () => {
    const offload = instance('sqlite::memory:')
    offload.task('report.build', { run: () => {} })
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ task: 'report.build', cron: '61 * * * *' }, 'INVALID_OPTION', /cron "61 \* \* \* \*" is not valid: Invalid value for minute: 61/],
      [{ task: 'report.build', cron: '* * *' }, 'INVALID_OPTION', /exactly five, six, or seven/],
      [{ task: 'report.build', cron: '0 0 30 2 *' }, 'INVALID_OPTION', /never fires/],
      [{ task: 'report.build', cron: '0 3 * * *', timezone: 'Mars/Olympus' }, 'INVALID_OPTION', /timezone must be an IANA time zone/],
      [{ task: 'report.build', cron: '0 3 * * *', catchup: 1 }, 'UNKNOWN_OPTION', /did you mean 'catchUp'/],
      [{ task: 'report.build', cron: '0 3 * * *', catchUp: -1 }, 'INVALID_OPTION', /catchUp must be an integer from 0 to 1000/],
      [{ task: 'report.bild', cron: '0 3 * * *' }, 'UNKNOWN_TASK', /did you mean 'report.build'/],
      [{ task: 'report.build', cron: '0 3 * * *', attempts: 0 }, 'INVALID_OPTION', /attempts/],
    ]
    for (const [options, code, message] of cases) {
      await expect(offload.schedule('nightly', options as never), JSON.stringify(options)).rejects.toMatchObject({ code, message: expect.stringMatching(message) })
    }
    await expect(offload.schedule('bad name!', { task: 'report.build', cron: '0 3 * * *' })).rejects.toMatchObject({ code: 'INVALID_NAME' })
    expect(() => createOffload({ store: 'sqlite::memory:', schedules: { nightly: { task: 'x', cron: 'nope' } } })).toThrow(/cron "nope" is not valid/)
    expect(await offload.listSchedules()).toEqual([])
  })

  test('a declared schedule whose task this process lacks fails work() with the schedule named, before any worker starts', async () => {
    const offload = instance('sqlite::memory:', { schedules: { nightly: { task: 'report.bild', cron: '0 3 * * *' } } })
    offload.task('report.build', { run: () => {} })
    await expect(offload.work({ handleSignals: false })).rejects.toMatchObject({
      code: 'UNKNOWN_TASK',
      message: "schedule 'nightly': unknown task 'report.bild', did you mean 'report.build'?",
    })
    expect(await offload.listWorkers()).toEqual([])
    expect(await offload.listSchedules()).toEqual([])
  })
})

describe.each(STORE_KINDS)('%s store', (_name, newStore) => {
  test('each tick of a cron schedule is enqueued once with 3 schedulers', async () => {
    const store = newStore()
    const instances = [instance(store), instance(store), instance(store)]
    for (const offload of instances) offload.task('tick', { run: () => {} })
    await instances[0]!.schedule('every-second', { task: 'tick', cron: '* * * * * *' })
    const outcomes = { won: 0, lost: 0 }
    for (const offload of instances) {
      // Three schedulers racing, with no leader among them: the store's compare-and-set alone keeps ticks single.
      const scheduler = new Scheduler(counted(offload.store, outcomes), { pollIntervalMs: 1000, graceMs: 60_000 }, silentLogger)
      schedulers.push(scheduler)
      scheduler.start()
    }
    const reader = instances[0]!
    const ticked = async (): Promise<string[]> =>
      (await reader.listJobs({ task: 'tick', limit: 1000 })).jobs.map((job) => job.metadata.scheduledFor as string)
    // The requirement is about time: a tick a second, for about five seconds.
    await eventually(async () => (await ticked()).length >= 5, 'five ticks were enqueued')
    await Promise.all(schedulers.map((scheduler) => scheduler.stop()))

    const jobs = (await reader.listJobs({ task: 'tick', limit: 1000 })).jobs
    const ticks = jobs.map((job) => Date.parse(job.metadata.scheduledFor as string)).sort((a, b) => a - b)
    expect(new Set(ticks).size, 'no tick enqueued twice').toBe(ticks.length)
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!, 'no tick skipped').toBe(1000)
    for (const job of jobs) {
      expect(job.runAt.getTime()).toBe(Date.parse(job.metadata.scheduledFor as string))
      expect(job.metadata.schedule).toBe('every-second')
    }
    expect(outcomes.won).toBeGreaterThan(0)
    expect(outcomes.lost, 'the schedulers did race').toBeGreaterThan(0)
    const [schedule] = await reader.listSchedules()
    expect(schedule!.lastRunAt?.getTime()).toBe(ticks.at(-1))
    expect(schedule!.nextRunAt!.getTime()).toBeGreaterThan(ticks.at(-1)!)
  })

  test('schedules declared in code are written when a worker starts, and the maintenance leader runs their jobs', async () => {
    const store = newStore()
    const ran: string[] = []
    const offload = instance(store, {
      schedules: { heartbeat: { task: 'beat', cron: '* * * * * *', payload: { from: 'code' }, metadata: { team: 'ops' }, priority: 3 } },
    })
    offload.task('beat', {
      run: (payload: { from: string }, ctx) => {
        ran.push(`${payload.from}:${ctx.jobId}`)
      },
    })
    expect(await offload.listSchedules()).toEqual([])
    await offload.work({ handleSignals: false })
    const [declared] = await offload.listSchedules()
    expect(declared).toMatchObject({ name: 'heartbeat', task: 'beat', source: 'code', cron: '* * * * * *', timezone: 'UTC', payload: { from: 'code' } })
    await eventually(async () => ran.length >= 1, 'a tick ran')
    const [job] = (await offload.listJobs({ task: 'beat', limit: 1 })).jobs
    expect(job).toMatchObject({ priority: 3, metadata: { team: 'ops', schedule: 'heartbeat' } })

    // Another process of the same code declares it again: its next run is left where it was.
    const before = (await offload.getSchedule('heartbeat'))!
    const again = instance(store, { schedules: { heartbeat: { task: 'beat', cron: '* * * * * *', payload: { from: 'code' }, metadata: { team: 'ops' }, priority: 3 } } })
    again.task('beat', { run: () => {} })
    await again.work({ handleSignals: false, maintenance: false })
    const after = (await offload.getSchedule('heartbeat'))!
    expect(after.updatedAt).toEqual(before.updatedAt)
    expect(after.createdAt).toEqual(before.createdAt)
  })

  test('paused schedules enqueue nothing; resumed, they go on from the next tick; deleted, they are gone', async () => {
    const offload = instance(newStore())
    offload.task('report', { run: () => {} })
    const created = await offload.schedule('hourly', { task: 'report', cron: '0 * * * *', timezone: 'Europe/Paris' })
    expect(created).toMatchObject({ source: 'api', paused: false, timezone: 'Europe/Paris' })
    expect(created.nextRunAt!.getUTCMinutes()).toBe(0)
    const paused = await offload.pauseSchedule('hourly')
    expect(paused.paused).toBe(true)
    expect((await offload.resumeSchedule('hourly')).paused).toBe(false)
    await expect(offload.pauseSchedule('missing')).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' })
    expect(await offload.deleteSchedule('hourly')).toBe(true)
    expect(await offload.getSchedule('hourly')).toBeUndefined()
    expect(await offload.deleteSchedule('hourly')).toBe(false)
  })
})

/** `store`, counting the ticks it wins and loses. */
function counted(store: Store, outcomes: { won: number; lost: number }): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'scheduleTick') {
        return async (params: Parameters<Store['scheduleTick']>[0]) => {
          const won = await target.scheduleTick(params)
          outcomes[won ? 'won' : 'lost']++
          return won
        }
      }
      const value = Reflect.get(target, property) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
