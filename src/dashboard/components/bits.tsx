import type { ComponentChildren } from 'preact'
import { formatAgo, formatJson, formatTime } from '../format'

/** A job state as a coloured badge; the text is the state itself. */
export function StateBadge({ state, testId }: { state: string; testId?: string }) {
  return (
    <span class={`badge state-${state}`} data-testid={testId}>
      {state}
    </span>
  )
}

/** A JSON value as indented text. Text only: markup in a payload shows as the characters it is. */
export function JsonBlock({ value, testId, label }: { value: unknown; testId?: string; label?: string }) {
  return (
    <pre class="json" data-testid={testId} tabIndex={0} aria-label={label}>
      {formatJson(value)}
    </pre>
  )
}

/** "3m ago", with the exact time on hover and for machines. */
export function Ago({ iso, now }: { iso: string | null | undefined; now?: number }) {
  if (!iso) return <span class="muted">—</span>
  return (
    <time dateTime={iso} title={formatTime(iso)}>
      {formatAgo(iso, now)}
    </time>
  )
}

/** A section whose endpoint this server does not have yet: said plainly, the rest of the page works. */
export function Unavailable({ what }: { what: string }) {
  return (
    <p class="unavailable">
      {what} is not available on this server: its API endpoint is missing (a server older than this dashboard?).
    </p>
  )
}

/** A table that scrolls sideways inside its own box on a narrow screen instead of the page. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  )
}

export function Loading({ what }: { what: string }) {
  return <p class="muted loading">Loading {what}…</p>
}

/** One term and its value in a `<dl class="facts">`. */
export function Fact({ term, children }: { term: string; children: ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  )
}

/** Whether a reported progress is a percentage, drawn as a bar; anything else a handler reports is shown as JSON. */
export function isPercent(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= 100
}

/** A progress value: a bar for a percentage, else the JSON (indented in a block, or on one line when `small`). */
export function ProgressView({ value, small = false, testId }: { value: unknown; small?: boolean; testId?: string }) {
  if (isPercent(value)) {
    const rounded = Math.round(value * 10) / 10
    return (
      <span class={small ? 'progress progress-small' : 'progress'} data-testid={testId}>
        <progress max={100} value={value} aria-label="Progress" />
        <span class="progress-value">{rounded}%</span>
      </span>
    )
  }
  if (small) return <code class="progress-json">{JSON.stringify(value)}</code>
  return <JsonBlock value={value} testId={testId} label="Progress" />
}
