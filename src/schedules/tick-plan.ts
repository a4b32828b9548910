import type { ScheduleInfo } from '../store/store.js'
import { CronExpression } from './cron.js'

/**
 * How late a tick may be enqueued and still count as on time: a scheduler that comes to a tick
 * later than this (the processes were down) treats it as missed, and the schedule's `catchUp`
 * decides. Within it — a leader failing over, a slow store, a busy event loop — every tick is
 * enqueued, late. A minute, as Quartz's misfire threshold.
 */
export const LATE_GRACE_MS = 60_000
/** The most ticks one scheduler run enqueues for a schedule; the rest of a long backlog is dropped. */
export const MAX_TICKS_PER_RUN = 1000

/** What one scheduler run does with a due schedule: enqueue `ticks` and move the next run from `due` to `next`. */
export interface TickPlan {
  due: number
  /** Tick times to enqueue a job for, oldest first: the missed ones `catchUp` keeps, then the late ones. */
  ticks: number[]
  next: number | null
}

/**
 * The plan for `schedule` at `now`, or undefined when it is not due (paused, finished, or its next
 * run still ahead). Ticks due within `graceMs` of now are enqueued; older ones are missed, and at
 * most `catchUp` of them — the most recent — are enqueued as well.
 */
export function planTick(schedule: ScheduleInfo, now: number, graceMs = LATE_GRACE_MS): TickPlan | undefined {
  if (schedule.paused || schedule.nextRunAt === undefined) return undefined
  const due = schedule.nextRunAt.getTime()
  if (due > now) return undefined
  const cron = CronExpression.parse(schedule.cron, schedule.timezone, due - 1)
  // A whole second, as ticks are: the missed ones end just before it, the late ones start at it.
  const lateFrom = Math.max(due, Math.ceil((now - graceMs) / 1000) * 1000)
  const ticks = due < lateFrom && schedule.catchUp > 0 ? cron.previousBefore(lateFrom, schedule.catchUp).filter((tick) => tick >= due) : []
  for (let tick = cron.nextFrom(lateFrom); tick !== null && tick <= now && ticks.length < MAX_TICKS_PER_RUN; tick = cron.nextAfter(tick)) {
    ticks.push(tick)
  }
  return { due, ticks, next: cron.nextAfter(Math.max(now, ticks.at(-1) ?? now)) }
}
