import { useRef, useState } from 'preact/hooks'
import { api, ApiError } from '../api'
import { Ago, Fact, JsonBlock, Loading, ProgressView, StateBadge, TableWrap } from '../components/bits'
import { ConfirmDialog } from '../components/confirm-dialog'
import { formatClock, formatDuration, formatJson, formatTime } from '../format'
import { useLoader, useNow, useThrottle, useTitle } from '../hooks'
import { appendEvents, foldProgress, type TimelineRow } from '../timeline'
import { useLiveEvents } from '../live'
import { showError, showNote } from '../notices'
import { href, navigate } from '../router'
import { useAllows } from '../session'
import { FINISHED_STATES, type Job, type JobEvent, type Json } from '../types'

const isNotFound = (error: unknown): boolean => error instanceof ApiError && error.code === 'JOB_NOT_FOUND'

export function JobPage({ id }: { id: string }) {
  useTitle(`Job ${id}`)
  const job = useLoader((signal) => api<Job>('GET', `/v1/jobs/${encodeURIComponent(id)}`, undefined, { signal }), [id], {
    what: 'Could not load the job',
    inline: isNotFound,
  })
  // The timeline is read once, then only what came after its last event: a long job's thousands
  // of progress events are not read again on every update.
  const timeline = useRef<{ id: string; events: JobEvent[] }>({ id, events: [] })
  const events = useLoader(
    async (signal) => {
      const known = timeline.current.id === id ? timeline.current.events : []
      const after = known.at(-1)?.seq ?? 0
      const page = await api<{ events: JobEvent[] }>('GET', `/v1/jobs/${encodeURIComponent(id)}/events${after > 0 ? `?after=${after}` : ''}`, undefined, {
        signal,
      })
      // Merged with what is known now, not at the start: another read may have finished meanwhile.
      const current = timeline.current.id === id ? timeline.current.events : []
      timeline.current = { id, events: appendEvents(current, page.events) }
      return timeline.current
    },
    [id],
    { what: "Could not load the job's events", inline: isNotFound },
  )
  // Live: this job's events arrive on the shared stream; re-read (at most twice a second) when one does.
  const refreshJob = useThrottle(job.reload, 500)
  const refreshEvents = useThrottle(events.reload, 500)
  useLiveEvents((event) => {
    if (event !== undefined && event.jobId !== id) return
    refreshJob()
    refreshEvents()
  })

  if (job.data === undefined) {
    if (isNotFound(job.error)) {
      return (
        <>
          <h1 tabIndex={-1}>Job not found</h1>
          <p class="empty">
            No job has the id <code>{id}</code>: it may have been deleted, or removed by retention. <a href={href.jobs()}>See every job</a>
          </p>
        </>
      )
    }
    return (
      <>
        <h1 tabIndex={-1}>Job</h1>
        {job.error ? <p class="muted">The job could not be loaded.</p> : <Loading what="the job" />}
      </>
    )
  }
  return <JobDetail job={job.data} events={events.data?.id === id ? events.data.events : undefined} reload={job.reload} />
}

function JobDetail({ job, events, reload }: { job: Job; events: JobEvent[] | undefined; reload: () => void }) {
  const canWrite = useAllows('write')
  const now = useNow(1000)
  const [busy, setBusy] = useState(false)
  const [confirming, setConfirming] = useState(false)
  const finished = FINISHED_STATES.includes(job.state)

  const act = async (action: 'retry' | 'cancel'): Promise<void> => {
    setBusy(true)
    try {
      await api('POST', `/v1/jobs/${encodeURIComponent(job.id)}/${action}`)
      showNote(action === 'retry' ? 'The job is back in its queue.' : 'The job is cancelled.')
      reload()
    } catch (error) {
      showError(error, `Could not ${action} the job`)
    } finally {
      setBusy(false)
    }
  }
  const remove = async (): Promise<void> => {
    try {
      await api('DELETE', `/v1/jobs/${encodeURIComponent(job.id)}`)
      setConfirming(false)
      showNote(`Job ${job.id} deleted.`, { carry: true })
      navigate(href.jobs({ queue: job.queue }))
    } catch (error) {
      setConfirming(false)
      showError(error, 'Could not delete the job')
    }
  }

  const logs = events?.filter((event) => event.type === 'log') ?? []
  return (
    <>
      <p class="breadcrumb">
        <a href={href.jobs()}>Jobs</a> / <a href={href.jobs({ queue: job.queue })}>{job.queue}</a>
      </p>
      <div class="job-header">
        <h1 tabIndex={-1}>
          <span class="job-task">{job.task}</span> <span class="mono job-id">{job.id}</span>
        </h1>
        <StateBadge state={job.state} testId="job-state" />
      </div>
      {canWrite && (
        <div class="actions" role="group" aria-label="Actions on this job">
          {job.links.retry && (
            <button type="button" class="button button-primary" data-testid="action-retry" disabled={busy} onClick={() => void act('retry')}>
              Retry
            </button>
          )}
          {job.links.cancel && (
            <button type="button" class="button button-danger-quiet" data-testid="action-cancel" disabled={busy} onClick={() => void act('cancel')}>
              Cancel
            </button>
          )}
          {finished && (
            <button type="button" class="button button-danger-quiet" data-testid="action-delete" disabled={busy} onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
        </div>
      )}
      {confirming && (
        <ConfirmDialog title="Delete this job?" confirmLabel="Delete the job" danger onConfirm={remove} onCancel={() => setConfirming(false)}>
          <p>
            The job <code>{job.id}</code> is deleted with its events and its idempotency key. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}

      <dl class="facts">
        <Fact term="Task">{job.task}</Fact>
        <Fact term="Queue">
          <a href={href.jobs({ queue: job.queue })}>{job.queue}</a>
        </Fact>
        <Fact term="Attempts">
          {job.attempts} of {job.maxAttempts}
        </Fact>
        <Fact term="Priority">{job.priority}</Fact>
        <Fact term="Created">
          <Time iso={job.createdAt} now={now} />
        </Fact>
        <Fact term={job.state === 'scheduled' || job.state === 'retrying' ? 'Runs' : 'Run at'}>
          <Time iso={job.runAt} now={now} />
        </Fact>
        <Fact term="Started">
          <Time iso={job.startedAt} now={now} />
        </Fact>
        <Fact term="Finished">
          <Time iso={job.finishedAt} now={now} />
        </Fact>
        {job.startedAt && job.finishedAt && <Fact term="Last attempt took">{formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}</Fact>}
        {job.key !== null && (
          <Fact term="Idempotency key">
            <code>{job.key}</code>
          </Fact>
        )}
        {job.timeoutMs !== null && <Fact term="Timeout">{formatDuration(job.timeoutMs / 1000)}</Fact>}
        {job.workerId !== null && (
          <Fact term="Worker">
            <a href={href.workers()} class="mono">
              {job.workerId}
            </a>
          </Fact>
        )}
      </dl>

      {job.progress !== null && (
        <section aria-labelledby="progress-heading">
          <h2 id="progress-heading">Progress</h2>
          <ProgressView value={job.progress} testId="job-progress" />
        </section>
      )}

      <div class="panels">
        <section aria-labelledby="payload-heading">
          <h2 id="payload-heading">Payload</h2>
          <JsonBlock value={job.payload} testId="job-payload" label="Payload" />
        </section>
        <section aria-labelledby="result-heading">
          <h2 id="result-heading">Result</h2>
          {job.state === 'completed' || job.result !== null ? (
            <JsonBlock value={job.result} testId="job-result" label="Result" />
          ) : (
            <p class="muted" data-testid="job-result">
              {finished ? 'No result: the job did not complete.' : 'No result yet.'}
            </p>
          )}
        </section>
      </div>
      {Object.keys(job.metadata).length > 0 && (
        <section aria-labelledby="metadata-heading">
          <h2 id="metadata-heading">Metadata</h2>
          <JsonBlock value={job.metadata} testId="job-metadata" label="Metadata" />
        </section>
      )}

      {job.errors.length > 0 && (
        <section aria-labelledby="errors-heading">
          <h2 id="errors-heading">Errors</h2>
          {job.errorFingerprint !== null && (
            <p>
              <a href={`#/jobs?state=failed&fingerprint=${job.errorFingerprint}`} data-testid="job-failure-group">
                Other jobs that failed the same way
              </a>
            </p>
          )}
          <ol class="errors">
            {job.errors.map((error, index) => (
              <li key={index}>
                <details data-testid={`job-error-${error.attempt}`} open={index === job.errors.length - 1}>
                  <summary>
                    <span class="error-attempt">Attempt {error.attempt}</span> <strong class="error-name">{error.name}</strong>:{' '}
                    <span class="error-message">{error.message}</span> <Ago iso={error.at} now={now} />
                  </summary>
                  {error.stack ? <pre class="stack">{error.stack}</pre> : <p class="muted">No stack trace was recorded.</p>}
                </details>
              </li>
            ))}
          </ol>
        </section>
      )}

      <section aria-labelledby="logs-heading">
        <h2 id="logs-heading">Log</h2>
        {events === undefined ? (
          <Loading what="the log" />
        ) : logs.length === 0 ? (
          <p class="muted" data-testid="job-logs">
            The handler logged nothing.
          </p>
        ) : (
          <ol class="logs" data-testid="job-logs">
            {logs.map((event) => (
              <li key={event.seq}>
                <time dateTime={event.at} title={formatTime(event.at)}>
                  {formatClock(event.at)}
                </time>{' '}
                <span class="log-attempt">#{event.attempt}</span> <span class="log-message">{text(event.data?.message)}</span>
              </li>
            ))}
          </ol>
        )}
      </section>

      <Webhooks job={job} />

      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        {events === undefined ? <Loading what="the timeline" /> : <Timeline events={events} />}
      </section>
    </>
  )
}

/** The exact time, and how long ago (or until). */
function Time({ iso, now }: { iso: string | null; now: number }) {
  if (!iso) return <span class="muted">—</span>
  return (
    <>
      <time dateTime={iso}>{formatTime(iso)}</time> <Ago iso={iso} now={now} />
    </>
  )
}

function Webhooks({ job }: { job: Job }) {
  return (
    <section aria-labelledby="webhooks-heading" data-testid="job-webhooks">
      <h2 id="webhooks-heading">Webhook</h2>
      {job.webhook === null ? (
        <p class="muted">No completion webhook.</p>
      ) : (
        <>
          <p>
            Told of the outcome: <code class="url">{job.webhook.url}</code>
          </p>
          {job.webhook.deliveries === null || job.webhook.deliveries.length === 0 ? (
            <p class="muted">No delivery yet{FINISHED_STATES.includes(job.state) ? ': it is on its way.' : ': it goes out when the job finishes.'}</p>
          ) : (
            <TableWrap label="Webhook deliveries">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Attempt</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Status</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {job.webhook.deliveries.map((delivery, index) => (
                    <tr key={index}>
                      <td>{delivery.at ? formatClock(delivery.at) : "—"}</td>
                      <td class="num">{delivery.attempt ?? '—'}</td>
                      <td>
                        <span class={`badge outcome-${String(delivery.outcome)}`}>{delivery.outcome ?? 'unknown'}</span>
                      </td>
                      <td class="num">{delivery.status ?? '—'}</td>
                      <td class="wrap">{delivery.error ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          )}
        </>
      )}
    </section>
  )
}

/** Every event of the job, oldest first, with what each carries. */
function Timeline({ events }: { events: JobEvent[] }) {
  const [every, setEvery] = useState(false)
  if (events.length === 0) return <p class="muted" data-testid="job-timeline">No events.</p>
  const folded = foldProgress(events)
  const rows = every ? events.map((event) => ({ event, count: 1 }) as TimelineRow) : folded
  return (
    <>
      {folded.length < events.length && (
        <label class="toggle">
          <input type="checkbox" checked={every} onChange={(event) => setEvery((event.target as HTMLInputElement).checked)} /> Show every progress
          update ({events.length - folded.length} folded)
        </label>
      )}
      <TableWrap label="Timeline">
        <table class="table timeline" data-testid="job-timeline">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">State after</th>
              <th scope="col" class="num">
                Attempt
              </th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ event, last, count }) => (
              <tr key={event.seq}>
                <td>
                  <time dateTime={event.at} title={formatTime(event.at)}>
                    {formatClock(event.at)}
                  </time>
                  {last && <span class="muted"> to {formatClock(last.at)}</span>}
                </td>
                <td>
                  <span class={`event event-${event.type}`}>{event.type}</span>
                </td>
                <td>
                  <StateBadge state={event.state} />
                </td>
                <td class="num">{event.attempt}</td>
                <td class="wrap">
                  {last ? `progress ${compact(event.data?.progress)} → ${compact(last.data?.progress)} (${count} updates)` : describeEvent(event)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
    </>
  )
}

/** An event's data in a line: the log message, the progress, the error; JSON for the rest. */
function describeEvent(event: JobEvent): string {
  const data = event.data
  if (data === undefined || Object.keys(data).length === 0) return ''
  if (event.type === 'log') return text(data.message)
  if (event.type === 'progress') return `progress ${compact(data.progress)}`
  const error = data.error
  if (error !== null && typeof error === 'object' && !Array.isArray(error)) {
    const { name, message } = error as { name?: Json; message?: Json }
    if (typeof message === 'string') return `${typeof name === 'string' ? `${name}: ` : ''}${message}`
  }
  return JSON.stringify(data)
}

/** A value on one line. */
function compact(value: Json | undefined): string {
  return value === undefined ? '' : JSON.stringify(value)
}

function text(value: Json | undefined): string {
  return typeof value === 'string' ? value : formatJson(value)
}
