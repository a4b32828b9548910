import type { ComponentChildren } from 'preact'
import { api, isMissingEndpoint } from '../api'
import { useLoader, usePolling } from '../hooks'
import { Loading, TableWrap, Unavailable } from './bits'

interface PolledListProps<T> {
  /** The endpoint, answering `{ [field]: T[] }`. */
  path: string
  field: string
  /** Plural, lower case: "workers". */
  what: string
  refreshMs: number
  /** What an empty list says. */
  empty: ComponentChildren
  /** The line above the table, given the list. */
  summary: (list: T[]) => ComponentChildren
  /** The table, given the list. */
  children: (list: T[]) => ComponentChildren
}

/**
 * A page's list read from one endpoint and read again every `refreshMs`: the states every such
 * page has (an endpoint this server lacks, loading, failed, empty) said the same way everywhere.
 */
export function PolledList<T>({ path, field, what, refreshMs, empty, summary, children }: PolledListProps<T>) {
  const loaded = useLoader((signal) => api<Record<string, T[]>>('GET', path, undefined, { signal }), [path], { what: `Could not load the ${what}` })
  usePolling(() => {
    if (!isMissingEndpoint(loaded.error) && !loaded.loading) loaded.reload()
  }, refreshMs)
  const list = loaded.data?.[field]
  if (isMissingEndpoint(loaded.error)) return <Unavailable what={`The list of ${what}`} />
  if (list === undefined) return loaded.error ? <p class="muted">The {what} could not be loaded.</p> : <Loading what={what} />
  if (list.length === 0) return <p class="empty">{empty}</p>
  return (
    <>
      <p class="muted">
        {summary(list)} Refreshed every {refreshMs / 1000} s.
      </p>
      <TableWrap label={what[0]!.toUpperCase() + what.slice(1)}>{children(list)}</TableWrap>
    </>
  )
}
