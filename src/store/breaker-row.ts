/**
 * A circuit breaker's row and the rules that move it, shared by every store so they cannot drift:
 * a store reads the rows it needs inside a transaction (locked), applies these functions and writes
 * the rows back. Times are epoch milliseconds from the store's one clock.
 *
 * The rolling window is two fixed sub-windows of `windowMs` aligned to the epoch: the current one
 * counts in full, the previous one in proportion to how much of it still lies inside the last
 * `windowMs`. That estimates a sliding window with four numbers per breaker instead of a row per
 * attempt, so recording an outcome costs one row update however busy the task is.
 */
import type { BreakerAdmission, BreakerInfo, BreakerSettings, BreakerState, BreakerTransition } from './store.js'

export interface BreakerRow {
  task: string
  /** '' for a task-wide breaker. */
  group: string
  state: BreakerState
  /** Start of the current sub-window. */
  windowStart: number
  total: number
  failed: number
  /** The sub-window before it. */
  prevTotal: number
  prevFailed: number
  openedAt: number | null
  cooldownUntil: number | null
  probesInFlight: number
  /** When the last probe slot was taken: slots older than the cooldown are freed. */
  probeTakenAt: number | null
  settings: BreakerSettings
  opened: number
  halfOpened: number
  closed: number
  updatedAt: number
}

export function newRow(task: string, group: string, settings: BreakerSettings, now: number): BreakerRow {
  return {
    task,
    group,
    state: 'closed',
    windowStart: alignWindow(now, settings.windowMs),
    total: 0,
    failed: 0,
    prevTotal: 0,
    prevFailed: 0,
    openedAt: null,
    cooldownUntil: null,
    probesInFlight: 0,
    probeTakenAt: null,
    settings,
    opened: 0,
    halfOpened: 0,
    closed: 0,
    updatedAt: now,
  }
}

/** Adds one outcome to `row` and moves it; returns the transition it caused, if any. */
export function apply(row: BreakerRow, failed: boolean, settings: BreakerSettings, now: number): BreakerTransition | undefined {
  if (settings.windowMs !== row.settings.windowMs) {
    // Sub-windows of another length cannot be compared: start counting again.
    clearWindow(row, now, settings.windowMs)
  }
  row.settings = settings
  row.updatedAt = now
  roll(row, now)
  row.total++
  if (failed) row.failed++
  switch (row.state) {
    case 'closed': {
      const { volume, rate } = windowRate(row, now)
      if (volume >= settings.minVolume && rate >= settings.threshold) return open(row, now)
      return undefined
    }
    case 'half_open':
      // The first outcome while half-open decides: a probe's, or one of a job that was running
      // before the breaker opened — either says how the downstream is doing now.
      if (failed) return open(row, now)
      clearWindow(row, now, settings.windowMs)
      return move(row, 'closed', now)
    case 'open':
      // Outcomes of jobs that started before it opened: counted, but only probes close it.
      return undefined
  }
}

/** Whether a claimed job may run (see `Store.breakerProbe`); takes a probe slot when it is one. */
export function admit(row: BreakerRow | undefined, now: number): { admission: BreakerAdmission; transition?: BreakerTransition } {
  if (row === undefined || row.state === 'closed') return { admission: 'closed' }
  let transition: BreakerTransition | undefined
  if (row.state === 'open') {
    if (now < row.cooldownUntil!) return { admission: 'refused' }
    transition = move(row, 'half_open', now)
    row.probesInFlight = 0
  }
  row.probesInFlight = probesInFlight(row, now)
  if (row.probesInFlight >= row.settings.probes) return transition === undefined ? { admission: 'refused' } : { admission: 'refused', transition }
  row.probesInFlight++
  row.probeTakenAt = now
  row.updatedAt = now
  return transition === undefined ? { admission: 'probe' } : { admission: 'probe', transition }
}

/** Closes `row` by hand; the transition, unless it was closed already. */
export function resetRow(row: BreakerRow, now: number): BreakerTransition | undefined {
  clearWindow(row, now, row.settings.windowMs)
  row.updatedAt = now
  return row.state === 'closed' ? undefined : move(row, 'closed', now)
}

export function info(row: BreakerRow, now: number): BreakerInfo {
  const { volume, rate } = windowRate(row, now)
  const info: BreakerInfo = {
    task: row.task,
    state: row.state === 'open' && now >= row.cooldownUntil! ? 'half_open' : row.state,
    failureRate: rate,
    volume,
    // Slots past their expiry read as free: workers that see every slot taken stop asking, so
    // only this keeps a probe whose worker died from holding the breaker half-open for good.
    probesInFlight: row.state === 'half_open' ? probesInFlight(row, now) : 0,
    settings: { ...row.settings },
    transitions: { closed: row.closed, open: row.opened, half_open: row.halfOpened },
    updatedAt: new Date(row.updatedAt),
  }
  if (row.group !== '') info.group = row.group
  if (row.state !== 'closed' && row.openedAt !== null) info.openedAt = new Date(row.openedAt)
  if (row.state === 'open' && row.cooldownUntil !== null) info.cooldownUntil = new Date(row.cooldownUntil)
  return info
}

/** Breakers sorted as `breakerList` returns them: by task, then group, task-wide first. */
export function order(a: { task: string; group: string }, b: { task: string; group: string }): number {
  return a.task < b.task ? -1 : a.task > b.task ? 1 : a.group < b.group ? -1 : a.group > b.group ? 1 : 0
}

/** Probe slots still held at `now`: all are freed once the newest is a cooldown old. */
function probesInFlight(row: BreakerRow, now: number): number {
  return row.probeTakenAt !== null && now >= row.probeTakenAt + row.settings.cooldownMs ? 0 : row.probesInFlight
}

function alignWindow(now: number, windowMs: number): number {
  return now - (((now % windowMs) + windowMs) % windowMs)
}

/** Moves the sub-windows forward to the one holding `now`. */
function roll(row: BreakerRow, now: number): void {
  const start = alignWindow(now, row.settings.windowMs)
  if (start <= row.windowStart) return
  const previous = start - row.settings.windowMs === row.windowStart
  row.prevTotal = previous ? row.total : 0
  row.prevFailed = previous ? row.failed : 0
  row.total = 0
  row.failed = 0
  row.windowStart = start
}

function clearWindow(row: BreakerRow, now: number, windowMs: number): void {
  row.windowStart = alignWindow(now, windowMs)
  row.total = row.failed = row.prevTotal = row.prevFailed = 0
}

/** The sliding-window estimate at `now`, without writing the row. */
function windowRate(row: BreakerRow, now: number): { volume: number; rate: number } {
  const { windowMs } = row.settings
  const start = alignWindow(now, windowMs)
  let total = 0
  let failed = 0
  let prevTotal = 0
  let prevFailed = 0
  if (start === row.windowStart) {
    ;[total, failed, prevTotal, prevFailed] = [row.total, row.failed, row.prevTotal, row.prevFailed]
  } else if (start - windowMs === row.windowStart) {
    ;[prevTotal, prevFailed] = [row.total, row.failed]
  }
  const weight = 1 - (now - start) / windowMs
  const volume = total + prevTotal * weight
  return { volume, rate: volume === 0 ? 0 : (failed + prevFailed * weight) / volume }
}

function open(row: BreakerRow, now: number): BreakerTransition {
  row.openedAt = now
  row.cooldownUntil = now + row.settings.cooldownMs
  row.probesInFlight = 0
  row.probeTakenAt = null
  return move(row, 'open', now)
}

function move(row: BreakerRow, to: BreakerState, now: number): BreakerTransition {
  const transition: BreakerTransition = { task: row.task, from: row.state, to, at: new Date(now) }
  if (row.group !== '') transition.group = row.group
  row.state = to
  row.updatedAt = now
  if (to === 'open') row.opened++
  else if (to === 'half_open') row.halfOpened++
  else {
    row.closed++
    row.openedAt = null
    row.cooldownUntil = null
    row.probesInFlight = 0
    row.probeTakenAt = null
  }
  return transition
}

/** The breakers table's columns, in the order `values` gives them; the same names in every store. */
export const COLUMNS = [
  'task', 'grp', 'state', 'window_start', 'total', 'failed', 'prev_total', 'prev_failed', 'opened_at', 'cooldown_until',
  'probes_in_flight', 'probe_taken_at', 'threshold', 'min_volume', 'window_ms', 'cooldown_ms', 'probes', 'opened', 'half_opened',
  'closed', 'updated_at',
] as const

/** A breakers row as a driver returns it: times as epoch ms (SQLite) or `Date`s (PostgreSQL). */
export type StoredBreaker = Record<(typeof COLUMNS)[number], unknown>

/** `row`'s column values in `COLUMNS` order, each time passed through the store's `time`. */
export function values(row: BreakerRow, time: (ms: number | null) => unknown): unknown[] {
  const s = row.settings
  return [
    row.task, row.group, row.state, time(row.windowStart), row.total, row.failed, row.prevTotal, row.prevFailed, time(row.openedAt),
    time(row.cooldownUntil), row.probesInFlight, time(row.probeTakenAt), s.threshold, s.minVolume, s.windowMs, s.cooldownMs, s.probes,
    row.opened, row.halfOpened, row.closed, time(row.updatedAt),
  ]
}

export function fromStored(stored: StoredBreaker): BreakerRow {
  const ms = (value: unknown): number | null => (value === null ? null : value instanceof Date ? value.getTime() : Number(value))
  return {
    task: stored.task as string,
    group: stored.grp as string,
    state: stored.state as BreakerState,
    windowStart: ms(stored.window_start)!,
    total: Number(stored.total),
    failed: Number(stored.failed),
    prevTotal: Number(stored.prev_total),
    prevFailed: Number(stored.prev_failed),
    openedAt: ms(stored.opened_at),
    cooldownUntil: ms(stored.cooldown_until),
    probesInFlight: Number(stored.probes_in_flight),
    probeTakenAt: ms(stored.probe_taken_at),
    settings: {
      threshold: Number(stored.threshold),
      minVolume: Number(stored.min_volume),
      windowMs: Number(stored.window_ms),
      cooldownMs: Number(stored.cooldown_ms),
      probes: Number(stored.probes),
    },
    opened: Number(stored.opened),
    halfOpened: Number(stored.half_opened),
    closed: Number(stored.closed),
    updatedAt: ms(stored.updated_at)!,
  }
}

/**
 * Applies a batch of outcomes to rows a store read and locked (`rows`, by `keyOf`): creates
 * the rows first seen, and returns the transitions with the rows to write back.
 */
export function recordRows(
  rows: Map<string, BreakerRow>,
  outcomes: readonly { task: string; group?: string; failed: boolean }[],
  settings: ReadonlyMap<string, BreakerSettings>,
  now: number,
): { transitions: BreakerTransition[]; changed: BreakerRow[] } {
  const transitions: BreakerTransition[] = []
  const changed = new Set<BreakerRow>()
  for (const outcome of outcomes) {
    const taskSettings = settings.get(outcome.task)
    if (taskSettings === undefined) continue
    const key = keyOf(outcome.task, outcome.group ?? '')
    let row = rows.get(key)
    if (row === undefined) rows.set(key, (row = newRow(outcome.task, outcome.group ?? '', taskSettings, now)))
    const transition = apply(row, outcome.failed, taskSettings, now)
    if (transition !== undefined) transitions.push(transition)
    changed.add(row)
  }
  return { transitions, changed: [...changed] }
}

/** The breakers an outcome batch touches, sorted, so concurrent writers lock them in one order. */
export function lockKeys(outcomes: readonly { task: string; group?: string }[], settings: ReadonlyMap<string, BreakerSettings>): { task: string; group: string }[] {
  const keys = new Map<string, { task: string; group: string }>()
  for (const outcome of outcomes) {
    if (!settings.has(outcome.task)) continue
    const group = outcome.group ?? ''
    keys.set(keyOf(outcome.task, group), { task: outcome.task, group })
  }
  return [...keys.values()].sort(order)
}

export function keyOf(task: string, group: string): string {
  return `${task}\u0000${group}`
}
