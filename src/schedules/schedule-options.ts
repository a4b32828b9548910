import type { BackoffOptions } from '../backoff.js'
import { checkBoolean, checkName, checkNumber, checkObject, checkOptions } from '../config.js'
import type { Duration } from '../duration.js'
import type { EnqueueOptions, Json } from '../job.js'
import type { JobInsert, ScheduleInfo, ScheduleSource, ScheduleUpsertParams } from '../store/store.js'
import { CronExpression } from './cron.js'

/** A cron schedule: which task to enqueue, when, and with what. */
export interface ScheduleOptions {
  /** The task each tick enqueues a job of; it must be defined on the instance that writes the schedule. */
  task: string
  /**
   * When: 5 fields (`minute hour day-of-month month day-of-week`, `'0 3 * * *'`) or 6 with
   * seconds first (`'*\/10 * * * * *'`). Names (`MON`, `JAN`), ranges, steps and lists work; a
   * day-of-month and a day-of-week both given match when either does.
   */
  cron: string
  /** The IANA time zone the expression is read in, daylight saving time included. @defaultValue `'UTC'` */
  timezone?: string
  /** The payload of every job, as JSON. @defaultValue `null` */
  payload?: unknown
  /** The jobs' queue. @defaultValue the task's */
  queue?: string
  /** The jobs' priority. @defaultValue the task's */
  priority?: number
  /** The jobs' attempts. @defaultValue the task's */
  attempts?: number
  /** The jobs' timeout. @defaultValue the task's */
  timeout?: Duration
  /** The jobs' retry delays (not a function: schedules are stored). @defaultValue the task's */
  backoff?: Exclude<BackoffOptions, (...args: never[]) => unknown>
  /** Metadata of every job, to which each tick adds `schedule` (the name) and `scheduledFor` (the tick, ISO). */
  metadata?: Record<string, Json>
  /**
   * After downtime, what to do with ticks missed by more than a minute: `false` skips them all
   * and the schedule goes on from its next tick; a number enqueues up to that many of them, the
   * most recent, before going on. Ticks less than a minute late are always enqueued. @defaultValue `false`
   */
  catchUp?: false | number
  /** A paused schedule enqueues nothing; resumed, it goes on from its next tick after now. @defaultValue `false`, and an existing schedule keeps its flag */
  paused?: boolean
}

const SCHEDULE_OPTIONS = [
  'task', 'cron', 'timezone', 'payload', 'queue', 'priority', 'attempts', 'timeout', 'backoff', 'metadata', 'catchUp', 'paused',
] as const
/** The most missed ticks `catchUp` may ask for: a schedule that misses more needs its jobs made another way. */
export const MAX_CATCH_UP = 1000

/** `options` checked, without the task: what can be checked before any task is defined. */
export interface CheckedSchedule {
  name: string
  options: ScheduleOptions
  cron: CronExpression
  catchUp: number
}

/** Checks a schedule's name and options; throws `INVALID_OPTION`, `UNKNOWN_OPTION` or `INVALID_NAME`. */
export function checkSchedule(name: unknown, value: unknown): CheckedSchedule {
  checkName(name, 'schedule')
  const options = checkObject(value, `schedule '${String(name)}'`) as unknown as ScheduleOptions
  checkOptions(options, SCHEDULE_OPTIONS, `schedule '${String(name)}'`)
  const cron = CronExpression.parse(options.cron, options.timezone ?? 'UTC')
  const catchUp = options.catchUp === undefined || options.catchUp === false ? 0 : checkNumber(options.catchUp, 'catchUp', { integer: true, min: 0, max: MAX_CATCH_UP })
  if (options.paused !== undefined) checkBoolean(options.paused, 'paused')
  return { name: name as string, options, cron, catchUp }
}

/**
 * What the store writes for a checked schedule. `prepare` checks the job part as `enqueue` would
 * (the task is defined, options and payload are valid) and resolves the task's defaults now, so a
 * tick makes its jobs from the row alone, in whichever process it runs.
 */
export function scheduleWrite(
  checked: CheckedSchedule,
  source: ScheduleSource,
  prepare: (task: string, payload: unknown, options: EnqueueOptions) => JobInsert,
  now: number,
): ScheduleUpsertParams {
  const { options } = checked
  const jobOptions: EnqueueOptions = {}
  for (const key of ['queue', 'priority', 'attempts', 'timeout', 'backoff', 'metadata'] as const) {
    if (options[key] !== undefined) (jobOptions as Record<string, unknown>)[key] = options[key]
  }
  const insert = prepare(options.task, options.payload ?? null, jobOptions)
  const write: ScheduleUpsertParams = {
    name: checked.name,
    task: insert.task,
    queue: insert.queue,
    cron: checked.cron.expression,
    timezone: checked.cron.timezone,
    payload: insert.payload,
    job: { priority: insert.priority, maxAttempts: insert.maxAttempts },
    catchUp: checked.catchUp,
    source,
    nextRunAt: checked.cron.nextAfter(now),
    now,
  }
  if (insert.timeoutMs !== undefined) write.job.timeoutMs = insert.timeoutMs
  if (insert.backoff !== undefined) write.job.backoff = insert.backoff
  if (insert.metadata !== undefined) write.job.metadata = JSON.parse(insert.metadata) as Record<string, Json>
  if (options.paused !== undefined) write.paused = options.paused
  return write
}

/** A stored schedule written again as it is but for `paused`: what pausing and resuming write. */
export function pausedWrite(schedule: ScheduleInfo, paused: boolean, now: number): ScheduleUpsertParams {
  const cron = CronExpression.parse(schedule.cron, schedule.timezone, now)
  return {
    name: schedule.name,
    task: schedule.task,
    queue: schedule.queue,
    cron: schedule.cron,
    timezone: schedule.timezone,
    payload: JSON.stringify(schedule.payload),
    job: schedule.job,
    catchUp: schedule.catchUp,
    source: schedule.source,
    paused,
    nextRunAt: cron.nextAfter(now),
    now,
  }
}
