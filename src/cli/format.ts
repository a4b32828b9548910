import { formatDuration } from '../duration.js'
import type { JobEvent, JobInfo, JobState } from '../job.js'
import type { Output } from './output.js'

/** `12:00:01.234` in local time: event lines are read against the wall clock. */
export function clockTime(date: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0')
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** `2030-01-31 12:00:01` in local time, for tables and details. */
export function dateTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

/**
 * The tail of a job id, for event lines. Ids are UUIDv7: the head is a timestamp that jobs made in
 * the same second share, the tail is random, so the tail is what tells jobs apart at a glance.
 */
export function shortId(id: string): string {
  return '…' + id.replace(/-/g, '').slice(-8)
}

/** Compact JSON for one line, cut to `max` characters. */
export function brief(value: unknown, max = 80): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? 'undefined'
  } catch {
    text = String(value)
  }
  return oneLine(text, max)
}

/** Collapses line breaks and cuts to `max` characters with an ellipsis. */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s*\n\s*/g, ' ').trim()
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat
}

export function paintState(out: Output, state: JobState | string, text: string = state): string {
  switch (state) {
    case 'completed':
      return out.green(text)
    case 'failed':
      return out.red(text)
    case 'retrying':
    case 'snoozed':
    case 'released':
    case 'rescued':
      return out.yellow(text)
    case 'running':
    case 'started':
      return out.cyan(text)
    case 'cancelled':
      return out.magenta(text)
    default:
      return text
  }
}

/** `attempt 2/5` */
export function attemptText(attempt: number, maxAttempts: number | undefined): string {
  return maxAttempts === undefined ? `attempt ${attempt}` : `attempt ${attempt}/${maxAttempts}`
}

/** How `eventDetail` may use what it knows beyond the event row. */
export interface DetailOptions {
  /**
   * The event is happening now (`offload dev`), so `job` describes the job at the event: its run
   * time and key are worth showing, and so is its full id. In a timeline `job` is the latest state.
   */
  live?: boolean
  /** When the attempt this event ends began, for "completed in 266ms". */
  startedAt?: Date
}

/**
 * What an event says, after its type: `attempt 1/5`, `40%`, `attempt 1/3 failed, again in 1.9s: …`.
 * `job`, when known, adds what the event row does not carry: the attempt limit and the result.
 */
export function eventDetail(event: JobEvent, job: JobInfo | undefined, out: Output, options: DetailOptions = {}): string {
  const data = event.data ?? {}
  const error = data.error as { name?: string; message?: string } | undefined
  const errorText = error === undefined ? '' : oneLine(error.message ?? error.name ?? 'unknown error', 160)
  const at = event.at.getTime()
  const until = (key: string): number | undefined => (typeof data[key] === 'string' ? new Date(data[key]).getTime() : undefined)
  switch (event.type) {
    case 'enqueued': {
      const parts = [`${event.state} on '${event.queue}'`]
      if (options.live && job !== undefined) {
        if (event.state === 'scheduled') parts.push(`runs at ${clockTime(job.runAt)} (in ${formatDuration(Math.max(0, job.runAt.getTime() - at))})`)
        if (job.priority !== 0) parts.push(`priority ${job.priority}`)
        if (job.key !== undefined) parts.push(`key '${job.key}'`)
      }
      if (options.live) parts.push(out.dim(`id ${event.jobId}`))
      return parts.join(', ')
    }
    case 'promoted':
      return 'due now: queued'
    case 'started':
      return attemptText(event.attempt, job?.maxAttempts)
    case 'progress':
      return typeof data.progress === 'number' ? `${data.progress}%` : brief(data.progress, 60)
    case 'log':
      return JSON.stringify(oneLine(String(data.message ?? ''), 120))
    case 'completed': {
      const startedAt = options.startedAt ?? job?.startedAt
      const parts: string[] = []
      if (startedAt !== undefined) parts.push(`in ${formatDuration(Math.max(0, at - startedAt.getTime()))}`)
      if (event.attempt > 1) parts.push(`on ${attemptText(event.attempt, job?.maxAttempts)}`)
      if (job !== undefined && job.state === 'completed') parts.push(`→ ${brief(job.result ?? null)}`)
      return parts.join(' ')
    }
    case 'retrying': {
      const runAt = until('runAt')
      const wait = runAt === undefined ? '' : ` in ${formatDuration(Math.max(0, runAt - at))}`
      return `${wait.trim()} after ${attemptText(event.attempt, job?.maxAttempts)}: ${errorText}`.trim()
    }
    case 'failed':
      return `${attemptText(event.attempt, job?.maxAttempts)}: ${error?.name === 'PermanentError' ? 'permanent error: ' : ''}${errorText}`
    case 'snoozed': {
      const runAt = until('runAt')
      return runAt === undefined ? 'runs again later' : `runs again in ${formatDuration(Math.max(0, runAt - at))} (attempt not spent)`
    }
    case 'released':
      return 'the worker stopped; back in the queue (attempt not spent)'
    case 'rescued':
      return `${errorText} → ${event.state}`
    case 'cancelled':
      return event.attempt > 0 ? `after ${event.attempt} attempt(s)` : ''
    case 'retried':
      return 'by hand: queued with fresh attempts'
    default:
      return event.data === undefined ? '' : brief(event.data, 80)
  }
}

// Colour codes take no width on screen. (The escape character is the point of this pattern.)
// eslint-disable-next-line no-control-regex
const ANSI_STYLE = /\x1b\[\d+m/g

/** Renders rows as aligned columns; the last column is never padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], out: Output): string[] {
  const visible = (text: string): number => text.replace(ANSI_STYLE, '').length
  const widths = headers.map((header, column) => Math.max(visible(header), ...rows.map((row) => visible(row[column] ?? ''))))
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat(widths[column]! - visible(cell))))
      .join('  ')
      .trimEnd()
  return [out.bold(render(headers)), ...rows.map(render)]
}
