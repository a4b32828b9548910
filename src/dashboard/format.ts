/** How the dashboard writes times, durations and numbers. Pure functions: test/dashboard tests them. */

const UNITS: [string, number][] = [
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
]

/** A duration in seconds as people say it: "3m 12s", "2h 5m", "4d 3h", "45s"; the two largest units. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—'
  if (seconds < 1) return seconds > 0 ? '<1s' : '0s'
  const whole = Math.floor(seconds)
  const first = UNITS.findIndex(([, size]) => whole >= size)
  const parts: string[] = []
  let rest = whole
  for (const [unit, size] of UNITS.slice(first, first + 2)) {
    const amount = Math.floor(rest / size)
    rest -= amount * size
    // "3m 0s" says no more than "3m".
    if (amount > 0) parts.push(`${amount}${unit}`)
  }
  return parts.join(' ')
}

/** How long ago an ISO time was, from `now`: "12s ago", "3m 5s ago"; "in 4s" for the future. */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—'
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return iso
  const seconds = (now - at) / 1000
  if (Math.abs(seconds) < 1) return 'just now'
  return seconds > 0 ? `${formatDuration(seconds)} ago` : `in ${formatDuration(-seconds)}`
}

/** An ISO time in the reader's locale and zone, to the second. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const at = new Date(iso)
  if (Number.isNaN(at.getTime())) return iso
  return at.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** A time of day ("11:23:55 PM"), with the date in front when it is not today: for timelines and logs. */
export function formatClock(iso: string, now: number = Date.now()): string {
  const at = new Date(iso)
  if (Number.isNaN(at.getTime())) return iso
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
  if (at.toDateString() === new Date(now).toDateString()) return time
  return `${at.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`
}

/** A count, short: 950, 1.5k, 12k, 3.4M. */
export function formatCount(value: number): string {
  if (value < 1000) return String(value)
  if (value < 1_000_000) return `${trim(value / 1000)}k`
  return `${trim(value / 1_000_000)}M`
}

function trim(value: number): string {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '')
}

/** A ratio as a percentage: 0.034 → "3.4%", 1 → "100%". */
export function formatPercent(ratio: number): string {
  const percent = ratio * 100
  if (percent === 0 || percent >= 10) return `${Math.round(percent)}%`
  return `${percent.toFixed(1).replace(/\.0$/, '')}%`
}

/** The top of a chart's scale above `value`: 1, 2 or 5 times a power of ten, at least `floor`. */
export function niceMax(value: number, floor: number): number {
  const top = Math.max(value, floor)
  const power = 10 ** Math.floor(Math.log10(top))
  for (const step of [1, 2, 5]) if (step * power >= top) return step * power
  return 10 * power
}

/** A JSON value as text to show in a `<pre>`: indented, and never throws. */
export function formatJson(value: unknown): string {
  if (value === undefined) return 'undefined'
  try {
    return JSON.stringify(value, null, 2) ?? String(value)
  } catch {
    return String(value)
  }
}

/** `s` for plurals: `${n} job${plural(n)}`. */
export function plural(count: number, many = 's', one = ''): string {
  return count === 1 ? one : many
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether a search looks like a job id (Offload's ids are UUIDv7) rather than an idempotency key. */
export function looksLikeJobId(text: string): boolean {
  return UUID.test(text.trim())
}
