import { useState } from 'preact/hooks'
import { api, isMissingEndpoint, query } from '../api'
import { Ago, Fact, Loading, Unavailable } from '../components/bits'
import { ConfirmDialog } from '../components/confirm-dialog'
import { QueueSelect, TextFilter } from '../components/filters'
import { plural } from '../format'
import { useLoader, useThrottle, useTitle } from '../hooks'
import { useLiveEvents } from '../live'
import { showError, showNote } from '../notices'
import { href, navigate, type FailureFilters } from '../router'
import { useAllows } from '../session'
import type { FailureGroup } from '../types'

/**
 * Triage: failed jobs grouped by what went wrong (the error's fingerprint: class, message with
 * ids and numbers taken out, top frame), biggest group first, so one bug is one line however many
 * jobs it failed.
 */
export function FailuresPage({ filters }: { filters: FailureFilters }) {
  useTitle('Failures')
  const canWrite = useAllows('write')
  const failures = useLoader(
    (signal) => api<{ groups: FailureGroup[] }>('GET', `/v1/failures${query({ queue: filters.queue, task: filters.task })}`, undefined, { signal }),
    [filters.queue, filters.task],
    { what: 'Could not load the failures' },
  )
  const [retrying, setRetrying] = useState<FailureGroup | undefined>(undefined)
  // New failures, and retries from elsewhere, show up without a reload: at most one read per 5 s.
  const refresh = useThrottle(failures.reload, 5000)
  useLiveEvents((event) => {
    if (isMissingEndpoint(failures.error)) return
    if (event === undefined || event.type === 'failed' || event.type === 'retried' || (event.type === 'rescued' && event.state === 'failed')) refresh()
  })

  const retryAll = async (group: FailureGroup): Promise<void> => {
    try {
      const body: { queue?: string; task?: string } = {}
      if (filters.queue) body.queue = filters.queue
      if (filters.task) body.task = filters.task
      const { retried } = await api<{ retried: number }>('POST', `/v1/failures/${encodeURIComponent(group.fingerprint)}/retry`, body)
      setRetrying(undefined)
      showNote(`${retried} job${plural(retried)} retried: back in ${plural(group.queues.length, 'their queues', 'their queue')}.`)
      failures.reload()
    } catch (error) {
      setRetrying(undefined)
      showError(error, 'Could not retry the group')
    }
  }

  const groups = failures.data?.groups
  const total = groups?.reduce((sum, group) => sum + group.count, 0) ?? 0
  return (
    <>
      <h1 tabIndex={-1}>Failures</h1>
      <p class="lead">Failed jobs grouped by their error. Retry a group once its cause is fixed.</p>
      <FailureFiltersForm filters={filters} />
      {isMissingEndpoint(failures.error) ? (
        <Unavailable what="Failure triage" />
      ) : groups === undefined ? (
        failures.error ? <p class="muted">The failures could not be loaded.</p> : <Loading what="failures" />
      ) : groups.length === 0 ? (
        <p class="empty">No failed jobs{filters.queue || filters.task ? ' match these filters' : ''}. </p>
      ) : (
        <>
          <p class="muted">
            {total} failed job{plural(total)} in {groups.length} group{plural(groups.length)}.
          </p>
          <ul class="failure-groups">
            {groups.map((group) => (
              <FailureCard key={group.fingerprint} group={group} filters={filters} canWrite={canWrite} onRetry={() => setRetrying(group)} />
            ))}
          </ul>
        </>
      )}
      {retrying && (
        <ConfirmDialog
          title={`Retry ${retrying.count} failed job${plural(retrying.count)}?`}
          confirmLabel={`Retry all ${retrying.count}`}
          onConfirm={() => retryAll(retrying)}
          onCancel={() => setRetrying(undefined)}
        >
          <p>
            Every failed job with the error <strong>{retrying.name}</strong>: {retrying.message}
            {filters.queue || filters.task ? ' (within the filters above)' : ''} goes back to its queue with a fresh set of attempts.
          </p>
        </ConfirmDialog>
      )}
    </>
  )
}

function FailureCard({ group, filters, canWrite, onRetry }: { group: FailureGroup; filters: FailureFilters; canWrite: boolean; onRetry: () => void }) {
  const headingId = `failure-${group.fingerprint.replace(/[^\w-]/g, '_')}`
  return (
    <li class="failure-group" data-testid={`failure-group-${group.fingerprint}`}>
      <article aria-labelledby={headingId}>
        <div class="failure-head">
          <h2 id={headingId} class="failure-title">
            <span class="error-name">{group.name}</span>: <span class="error-message">{group.message}</span>
          </h2>
          <span class="failure-count" title={`${group.count} failed jobs`}>
            <span data-testid={`failure-count-${group.fingerprint}`}>{group.count}</span> <span class="muted">job{plural(group.count)}</span>
          </span>
        </div>
        {group.frame && (
          <p class="failure-frame">
            at <code>{group.frame}</code>
          </p>
        )}
        <dl class="facts facts-inline">
          <Fact term="First seen">
            <Ago iso={group.firstSeenAt} />
          </Fact>
          <Fact term="Last seen">
            <Ago iso={group.lastSeenAt} />
          </Fact>
          <Fact term="Tasks">{group.tasks.join(', ')}</Fact>
          <Fact term="Queues">{group.queues.join(', ')}</Fact>
        </dl>
        <details class="failure-sample">
          <summary>Sample stack trace</summary>
          <p>
            From job <a href={href.job(group.sample.jobId)} class="mono">{group.sample.jobId}</a>: {group.sample.message}
          </p>
          {group.sample.stack ? <pre class="stack">{group.sample.stack}</pre> : <p class="muted">No stack trace was recorded.</p>}
        </details>
        <div class="actions">
          <a class="button button-quiet" href={href.jobs({ state: 'failed', fingerprint: group.fingerprint, queue: filters.queue, task: filters.task })}>
            See the {group.count} job{plural(group.count)}
          </a>
          {canWrite && (
            <button type="button" class="button button-primary" data-testid={`failure-retry-${group.fingerprint}`} onClick={onRetry}>
              Retry all {group.count}
            </button>
          )}
        </div>
      </article>
    </li>
  )
}

function FailureFiltersForm({ filters }: { filters: FailureFilters }) {
  const go = (change: Partial<FailureFilters>, replace = false): void => navigate(href.failures({ ...filters, ...change }), { replace })
  return (
    <form class="filters" aria-label="Filter the failures" onSubmit={(event) => event.preventDefault()}>
      <QueueSelect value={filters.queue} onChange={(queue) => go({ queue })} />
      <TextFilter label="Task" value={filters.task} onChange={(task) => go({ task }, true)} placeholder="Any task" />
    </form>
  )
}
