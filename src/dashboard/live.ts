import { useEffect, useRef } from 'preact/hooks'
import { createStore } from './store'
import type { JobEvent } from './types'

/**
 * One `EventSource('/v1/events')` for the whole dashboard, shared by every page that wants live
 * updates, open while at least one does. The server sends named events (`event: completed`, …),
 * so each type gets its own listener: `onmessage` would never fire.
 *
 * An `EventSource` reconnects by itself after a dropped connection, resuming from
 * `Last-Event-ID`, so nothing is lost. It gives up for good when the server answers with an error
 * (a 401 after the session ended, a 503 while it restarts): then this opens a new one after a
 * growing pause and tells subscribers to re-read (`undefined`), since events were missed.
 */
const EVENT_TYPES = [
  'enqueued',
  'promoted',
  'started',
  'completed',
  'retrying',
  'failed',
  'snoozed',
  'released',
  'rescued',
  'cancelled',
  'retried',
  'progress',
  'log',
  'webhook',
] as const

/** An event, or `undefined`: "events may have been missed, read everything again". */
export type LiveListener = (event: JobEvent | undefined) => void
export type LiveStatus = 'connecting' | 'live' | 'offline'

const listeners = new Set<LiveListener>()
const status = createStore<LiveStatus>('connecting')
let source: EventSource | undefined
let reopenTimer: ReturnType<typeof setTimeout> | undefined
let failures = 0
let missed = false

function dispatch(event: MessageEvent<string>): void {
  let parsed: JobEvent
  try {
    parsed = JSON.parse(event.data) as JobEvent
  } catch {
    return
  }
  for (const listener of listeners) listener(parsed)
}

function open(): void {
  const opened = new EventSource('/v1/events')
  source = opened
  status.set('connecting')
  for (const type of EVENT_TYPES) opened.addEventListener(type, dispatch as EventListener)
  opened.onopen = () => {
    failures = 0
    status.set('live')
    if (missed) {
      missed = false
      for (const listener of listeners) listener(undefined)
    }
  }
  opened.onerror = () => {
    if (opened.readyState !== EventSource.CLOSED) {
      // Reconnecting by itself, from Last-Event-ID: nothing will be missed.
      status.set('connecting')
      return
    }
    opened.close()
    source = undefined
    missed = true
    status.set('offline')
    failures += 1
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5))
    reopenTimer = setTimeout(() => {
      reopenTimer = undefined
      if (listeners.size > 0) open()
    }, delay)
  }
}

function close(): void {
  clearTimeout(reopenTimer)
  reopenTimer = undefined
  source?.close()
  source = undefined
  failures = 0
  missed = false
  status.set('connecting')
}

export function subscribe(listener: LiveListener): () => void {
  listeners.add(listener)
  if (source === undefined && reopenTimer === undefined) open()
  return () => {
    listeners.delete(listener)
    if (listeners.size === 0) close()
  }
}

/** Calls `handler` (the latest one given) for every live event while the component is mounted. */
export function useLiveEvents(handler: LiveListener): void {
  const latest = useRef(handler)
  latest.current = handler
  useEffect(() => subscribe((event) => latest.current(event)), [])
}

/** Whether the shared stream is connected, for the header's indicator. */
export const useLiveStatus = status.use
