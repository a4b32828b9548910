import type { Json } from '../job.js'
import type { ScheduleInfo, ScheduleJobTemplate, ScheduleSource, ScheduleUpsertParams } from './store.js'

/** A schedule row as either store reads it: times as epoch ms (SQLite) or Dates (PostgreSQL), flags as 0/1 or booleans. */
export interface ScheduleRow extends Pick<ScheduleUpsertParams, 'name' | 'task' | 'queue' | 'cron' | 'timezone' | 'payload'> {
  job: string
  catch_up: number
  paused: number | boolean
  source: ScheduleSource
  next_run_at: number | Date | null
  last_run_at: number | Date | null
  created_at: number | Date
  updated_at: number | Date
}

/** The one conversion of a stored schedule, so both stores describe schedules alike. */
export function toScheduleInfo(row: ScheduleRow): ScheduleInfo {
  const info: ScheduleInfo = {
    name: row.name,
    task: row.task,
    queue: row.queue,
    cron: row.cron,
    timezone: row.timezone,
    payload: JSON.parse(row.payload) as Json,
    job: JSON.parse(row.job) as ScheduleJobTemplate,
    catchUp: row.catch_up,
    paused: row.paused === true || row.paused === 1,
    source: row.source,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
  if (row.next_run_at !== null) info.nextRunAt = new Date(row.next_run_at)
  if (row.last_run_at !== null) info.lastRunAt = new Date(row.last_run_at)
  return info
}
