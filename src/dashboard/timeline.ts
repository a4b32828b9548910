import type { JobEvent } from './types'

/** One line of the timeline: an event, or a run of progress updates in a row (`last` set). */
export interface TimelineRow {
  event: JobEvent
  last?: JobEvent
  count: number
}

/**
 * Runs of progress updates folded into one line each ("progress 1 → 100, 100 updates"): a handler
 * that reports every percent would otherwise bury the few events that tell the story.
 */
export function foldProgress(events: JobEvent[]): TimelineRow[] {
  const rows: TimelineRow[] = []
  for (const event of events) {
    const previous = rows.at(-1)
    if (event.type === 'progress' && previous?.event.type === 'progress' && previous.event.attempt === event.attempt) {
      previous.last = event
      previous.count += 1
    } else {
      rows.push({ event, count: 1 })
    }
  }
  return rows
}

/** `known` (in `seq` order) with the events of `page` that come after its last one. */
export function appendEvents(known: JobEvent[], page: JobEvent[]): JobEvent[] {
  const last = known.at(-1)?.seq ?? 0
  const fresh = page.filter((event) => event.seq > last)
  return fresh.length === 0 ? known : [...known, ...fresh]
}
