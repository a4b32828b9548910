import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, query } from '../api'
import { runBulk, summarizeBulk } from '../bulk'
import { Ago, Loading, StateBadge, TableWrap } from '../components/bits'
import { ConfirmDialog } from '../components/confirm-dialog'
import { QueueSelect, TextFilter } from '../components/filters'
import { looksLikeJobId, plural } from '../format'
import { useLoader, useThrottle, useTitle } from '../hooks'
import { useLiveEvents } from '../live'
import { showError, showNote } from '../notices'
import { href, navigate, type JobFilters } from '../router'
import { useAllows } from '../session'
import { JOB_STATES, type BulkAction, type JobPage } from '../types'

const PAGE_SIZE = 50

const BULK: Record<BulkAction, { label: string; explain: string; danger: boolean }> = {
  retry: {
    label: 'Retry',
    explain: 'Failed and cancelled jobs go back to their queue with a fresh set of attempts, due now. Jobs in other states are skipped.',
    danger: false,
  },
  cancel: {
    label: 'Cancel',
    explain: 'Jobs that have not finished are cancelled; running ones are told to stop through their signal. Finished jobs are skipped.',
    danger: true,
  },
  delete: {
    label: 'Delete',
    explain: 'Finished jobs are deleted with their events and idempotency keys. This cannot be undone. Unfinished jobs are skipped.',
    danger: true,
  },
}

export function JobsPage({ filters }: { filters: JobFilters }) {
  useTitle('Jobs')
  const canWrite = useAllows('write')
  const filterKey = JSON.stringify(filters)
  // Keyset paging: the cursors of the pages before this one, so Previous can go back.
  const [paging, setPaging] = useState<{ key: string; cursors: (string | undefined)[] }>({ key: filterKey, cursors: [undefined] })
  const cursors = paging.key === filterKey ? paging.cursors : [undefined]
  const cursor = cursors.at(-1)
  const page = useLoader(
    (signal) =>
      api<JobPage>('GET', `/v1/jobs${query({ ...filters, cursor, limit: PAGE_SIZE })}`, undefined, { signal }),
    [filterKey, cursor],
    { what: 'Could not load the jobs' },
  )
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const [pending, setPending] = useState<BulkAction | undefined>(undefined)
  useEffect(() => setSelected(new Set()), [filterKey, cursor])

  // The jobs on screen follow their own events; new jobs wait for a refresh (they would shift the page).
  const jobs = page.data?.jobs ?? []
  const shown = new Set(jobs.map((job) => job.id))
  const refresh = useThrottle(page.reload, 2000)
  useLiveEvents((event) => {
    if (event === undefined || (shown.has(event.jobId) && event.type !== 'log' && event.type !== 'progress')) refresh()
  })

  const visibleSelected = jobs.filter((job) => selected.has(job.id)).map((job) => job.id)
  const toggle = (id: string, on: boolean): void => {
    const next = new Set(selected)
    if (on) next.add(id)
    else next.delete(id)
    setSelected(next)
  }

  const go = (change: Partial<JobFilters>, replace = false): void => navigate(href.jobs({ ...filters, ...change }), { replace })

  const confirmBulk = async (action: BulkAction): Promise<void> => {
    try {
      const results = await runBulk(action, visibleSelected)
      showNote(summarizeBulk(action, results))
      setSelected(new Set())
      setPending(undefined)
      page.reload()
    } catch (error) {
      setPending(undefined)
      showError(error, `Could not ${action} the jobs`)
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>Jobs</h1>
      <Filters filters={filters} go={go} />
      <JobSearch />
      <ActiveFilters filters={filters} go={go} />
      {canWrite && (
        <div class="bulk-bar" role="group" aria-label="Actions on the selected jobs">
          <span class="bulk-count" aria-live="polite">
            {visibleSelected.length} selected
          </span>
          {(Object.keys(BULK) as BulkAction[]).map((action) => (
            <button
              key={action}
              type="button"
              class={BULK[action].danger ? 'button button-small button-danger-quiet' : 'button button-small'}
              data-testid={`bulk-${action}`}
              disabled={visibleSelected.length === 0}
              onClick={() => setPending(action)}
            >
              {BULK[action].label}
            </button>
          ))}
        </div>
      )}
      {pending && (
        <ConfirmDialog
          title={`${BULK[pending].label} ${visibleSelected.length} job${plural(visibleSelected.length)}?`}
          confirmLabel={`${BULK[pending].label} ${visibleSelected.length} job${plural(visibleSelected.length)}`}
          danger={BULK[pending].danger}
          onConfirm={() => confirmBulk(pending)}
          onCancel={() => setPending(undefined)}
        >
          <p>{BULK[pending].explain}</p>
        </ConfirmDialog>
      )}
      {page.data === undefined ? (
        page.error ? <p class="muted">The jobs could not be loaded.</p> : <Loading what="jobs" />
      ) : jobs.length === 0 ? (
        <p class="empty">
          No jobs {cursors.length > 1 ? 'on this page' : 'match these filters'}.{' '}
          {filterKey !== '{}' && <a href={href.jobs()}>Show every job</a>}
        </p>
      ) : (
        <JobTable page={page.data} canWrite={canWrite} selected={selected} toggle={toggle} setSelected={setSelected} />
      )}
      <nav class="pager" aria-label="Pages of jobs">
        <button
          type="button"
          class="button"
          data-testid="jobs-prev"
          disabled={cursors.length <= 1}
          onClick={() => setPaging({ key: filterKey, cursors: cursors.slice(0, -1) })}
        >
          ← Previous
        </button>
        <span class="muted">Page {cursors.length}</span>
        <button
          type="button"
          class="button"
          data-testid="jobs-next"
          disabled={!page.data?.nextCursor}
          onClick={() => setPaging({ key: filterKey, cursors: [...cursors, page.data!.nextCursor!] })}
        >
          Next →
        </button>
        <button type="button" class="button button-quiet" onClick={page.reload} disabled={page.loading}>
          Refresh
        </button>
      </nav>
    </>
  )
}

function Filters({ filters, go }: { filters: JobFilters; go: (change: Partial<JobFilters>, replace?: boolean) => void }) {
  const states: string[] = [...JOB_STATES]
  if (filters.state && !states.includes(filters.state)) states.push(filters.state)
  return (
    <form class="filters" aria-label="Filter the jobs" onSubmit={(event) => event.preventDefault()}>
      <label>
        <span class="label">State</span>
        <select data-testid="jobs-filter-state" value={filters.state ?? ''} onChange={(event) => go({ state: (event.target as HTMLSelectElement).value })}>
          <option value="">Any state</option>
          {states.map((state) => (
            <option key={state} value={state}>
              {state}
            </option>
          ))}
        </select>
      </label>
      <QueueSelect value={filters.queue} onChange={(queue) => go({ queue })} testId="jobs-filter-queue" />
      <TextFilter label="Task" value={filters.task} onChange={(task) => go({ task }, true)} placeholder="Any task" testId="jobs-filter-task" />
    </form>
  )
}

/** A job id opens the job; anything else (or an id no job has) is looked up as an idempotency key. */
function JobSearch() {
  const [text, setText] = useState('')
  const [busy, setBusy] = useState(false)
  const search = async (): Promise<void> => {
    const value = text.trim()
    if (value === '') return
    if (looksLikeJobId(value)) {
      setBusy(true)
      try {
        await api('GET', `/v1/jobs/${encodeURIComponent(value)}`)
        navigate(href.job(value))
        return
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'JOB_NOT_FOUND')) {
          showError(error, 'Could not look the job up')
          return
        }
      } finally {
        setBusy(false)
      }
    }
    navigate(href.jobs({ key: value }))
  }
  return (
    <form
      class="search"
      role="search"
      onSubmit={(event) => {
        event.preventDefault()
        void search()
      }}
    >
      <label for="jobs-search">
        <span class="label">Find</span>
      </label>
      <input
        id="jobs-search"
        type="search"
        data-testid="jobs-search"
        placeholder="Job id or idempotency key"
        value={text}
        spellcheck={false}
        autocomplete="off"
        onInput={(event) => setText((event.target as HTMLInputElement).value)}
      />
      <button type="submit" class="button" disabled={busy}>
        Find
      </button>
    </form>
  )
}

/** Filters that have no control of their own (an idempotency key, an error fingerprint), each with a way out. */
function ActiveFilters({ filters, go }: { filters: JobFilters; go: (change: Partial<JobFilters>) => void }) {
  const chips = (
    [
      ['key', 'Idempotency key', 'idempotency key'],
      ['fingerprint', 'Error group', 'error group'],
    ] as const
  ).filter(([name]) => filters[name])
  if (chips.length === 0) return null
  return (
    <ul class="chips" aria-label="Other filters">
      {chips.map(([name, label, spoken]) => (
        <li class="chip" key={name}>
          {label} <code>{filters[name]}</code>
          <button type="button" class="icon-button" aria-label={`Stop filtering by ${spoken}`} onClick={() => go({ [name]: '' })}>
            ×
          </button>
        </li>
      ))}
    </ul>
  )
}

interface JobTableProps {
  page: JobPage
  canWrite: boolean
  selected: ReadonlySet<string>
  toggle: (id: string, on: boolean) => void
  setSelected: (ids: ReadonlySet<string>) => void
}

function JobTable({ page, canWrite, selected, toggle, setSelected }: JobTableProps) {
  const ids = page.jobs.map((job) => job.id)
  const count = ids.filter((id) => selected.has(id)).length
  const all = useRef<HTMLInputElement>(null)
  useEffect(() => {
    if (all.current) all.current.indeterminate = count > 0 && count < ids.length
  })
  const now = Date.now()
  return (
    <TableWrap label="Jobs">
      <table class="table jobs-table">
        <thead>
          <tr>
            {canWrite && (
              <th scope="col" class="select">
                <input
                  ref={all}
                  type="checkbox"
                  data-testid="jobs-select-all"
                  aria-label="Select every job on this page"
                  checked={count > 0 && count === ids.length}
                  onChange={(event) => setSelected(new Set((event.target as HTMLInputElement).checked ? ids : []))}
                />
              </th>
            )}
            <th scope="col">Job</th>
            <th scope="col">State</th>
            <th scope="col">Queue</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Created</th>
            <th scope="col">Finished</th>
          </tr>
        </thead>
        <tbody>
          {page.jobs.map((job) => (
            <tr key={job.id} data-testid={`job-row-${job.id}`} class={selected.has(job.id) ? 'selected' : undefined}>
              {canWrite && (
                <td class="select">
                  <input
                    type="checkbox"
                    data-testid={`job-select-${job.id}`}
                    aria-label={`Select job ${job.id}`}
                    checked={selected.has(job.id)}
                    onChange={(event) => toggle(job.id, (event.target as HTMLInputElement).checked)}
                  />
                </td>
              )}
              <td>
                <a href={href.job(job.id)} class="job-link">
                  <span class="job-link-task">{job.task}</span> <span class="mono job-link-id">{job.id}</span>
                </a>
              </td>
              <td>
                <StateBadge state={job.state} />
              </td>
              <td>
                <a href={href.jobs({ queue: job.queue })}>{job.queue}</a>
              </td>
              <td class="num">
                {job.attempts}/{job.maxAttempts}
              </td>
              <td>
                <Ago iso={job.createdAt} now={now} />
              </td>
              <td>
                <Ago iso={job.finishedAt} now={now} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}
