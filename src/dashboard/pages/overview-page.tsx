import { useEffect, useMemo, useState } from 'preact/hooks'
import { api, isMissingEndpoint } from '../api'
import { BarChart, type Bar } from '../components/bar-chart'
import { TableWrap, Unavailable, Loading } from '../components/bits'
import { formatCount, formatDuration, formatPercent, niceMax, plural } from '../format'
import { useLoader, useNow, usePolling, useThrottle, useTitle } from '../hooks'
import { useLiveEvents } from '../live'
import { showError, showNote } from '../notices'
import { href } from '../router'
import { useAllows } from '../session'
import { JOB_STATES, type ActivityAnswer, type JobState, type QueueActivity, type QueuesAnswer, type QueueSummary } from '../types'

/** Events that move jobs between states; progress, log and webhook events change no count. */
const COUNTING_EVENTS = new Set(['enqueued', 'promoted', 'started', 'completed', 'retrying', 'failed', 'snoozed', 'released', 'rescued', 'cancelled', 'retried'])

/** The states summed at the top of the page: what is waiting, running, or needs a look. */
const SUMMARY_STATES: JobState[] = ['queued', 'running', 'retrying', 'scheduled', 'failed']

export function OverviewPage() {
  useTitle('Overview')
  const canAdmin = useAllows('admin')
  const now = useNow(1000)
  const queues = useLoader(
    async (signal) => ({ answer: await api<QueuesAnswer>('GET', '/v1/queues', undefined, { signal }), at: Date.now() }),
    [],
    { what: 'Could not load the queues' },
  )
  const activity = useLoader((signal) => api<ActivityAnswer>('GET', '/v1/queues/activity', undefined, { signal }), [], {
    what: 'Could not load the activity',
  })

  // Live: at most one read of the queues a second and of the activity every 10 s, however busy.
  const refreshQueues = useThrottle(queues.reload, 1000)
  const refreshActivity = useThrottle(activity.reload, 10_000)
  useLiveEvents((event) => {
    if (event !== undefined && !COUNTING_EVENTS.has(event.type)) return
    refreshQueues()
    if (!isMissingEndpoint(activity.error)) refreshActivity()
  })
  // Quiet queues change too: ages grow, minutes pass out of the charts.
  usePolling(refreshQueues, 15_000)
  usePolling(() => {
    if (!isMissingEndpoint(activity.error)) refreshActivity()
  }, 60_000)

  const list = queues.data?.answer.queues
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      {list === undefined ? (
        queues.error ? <p class="muted">The queues could not be loaded.</p> : <Loading what="queues" />
      ) : (
        <>
          <Totals queues={list} />
          <section aria-labelledby="queues-heading">
            <h2 id="queues-heading">Queues</h2>
            {list.length === 0 ? (
              <p class="empty">No queues yet. A queue appears here once a job is enqueued to it.</p>
            ) : (
              <QueueTable queues={list} fetchedAt={queues.data!.at} now={now} canAdmin={canAdmin} onChanged={queues.reload} />
            )}
          </section>
        </>
      )}
      <section aria-labelledby="activity-heading">
        <h2 id="activity-heading">Last hour</h2>
        {isMissingEndpoint(activity.error) ? (
          <Unavailable what="The activity history" />
        ) : activity.data === undefined ? (
          activity.error ? <p class="muted">The activity could not be loaded.</p> : <Loading what="activity" />
        ) : (
          <Charts activity={activity.data} />
        )}
      </section>
    </>
  )
}

/** Jobs by state across every queue. Screen readers hear a summary, at most every 10 s, not every tick. */
function Totals({ queues }: { queues: QueueSummary[] }) {
  const totals = Object.fromEntries(SUMMARY_STATES.map((state) => [state, queues.reduce((sum, queue) => sum + (queue.counts[state] ?? 0), 0)]))
  const spoken = `${SUMMARY_STATES.map((state) => `${totals[state]} ${state}`).join(', ')}, in ${queues.length} queue${plural(queues.length)}.`
  const [announced, setAnnounced] = useState(spoken)
  const announce = useThrottle(() => setAnnounced(spoken), 10_000)
  useEffect(() => {
    if (announced !== spoken) announce()
  }, [spoken])
  return (
    <>
      <ul class="stats" aria-label="Jobs in every queue">
        {SUMMARY_STATES.map((state) => (
          <li key={state} class={`stat stat-${state}`}>
            <a href={href.jobs({ state })}>
              <span class="stat-value">{totals[state]}</span>
              <span class="stat-label">{state}</span>
            </a>
          </li>
        ))}
      </ul>
      <p class="visually-hidden" aria-live="polite" aria-atomic="true">
        {announced}
      </p>
    </>
  )
}

interface QueueTableProps {
  queues: QueueSummary[]
  fetchedAt: number
  now: number
  canAdmin: boolean
  onChanged: () => void
}

function QueueTable({ queues, fetchedAt, now, canAdmin, onChanged }: QueueTableProps) {
  const [busy, setBusy] = useState<string | undefined>(undefined)
  const setPaused = async (queue: string, pause: boolean): Promise<void> => {
    setBusy(queue)
    try {
      await api('POST', `/v1/queues/${encodeURIComponent(queue)}/${pause ? 'pause' : 'resume'}`)
      showNote(pause ? `Queue ${queue} paused: workers claim none of its jobs until it is resumed.` : `Queue ${queue} resumed.`)
      onChanged()
    } catch (error) {
      showError(error, `Could not ${pause ? 'pause' : 'resume'} queue ${queue}`)
    } finally {
      setBusy(undefined)
    }
  }
  return (
    <TableWrap label="Queues">
      <table class="table queues-table">
        <thead>
          <tr>
            <th scope="col">Queue</th>
            {JOB_STATES.map((state) => (
              <th scope="col" key={state} class="num cap">
                {state}
              </th>
            ))}
            <th scope="col" class="num">
              Oldest queued
            </th>
            <th scope="col" class="num">
              Enqueued <span class="th-sub">1m · 5m · 15m</span>
            </th>
            <th scope="col" class="num">
              Completed <span class="th-sub">1m · 5m · 15m</span>
            </th>
            <th scope="col" class="num">
              Failed <span class="th-sub">1m · 5m · 15m</span>
            </th>
            {canAdmin && (
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {queues.map((queue) => {
            // The age keeps growing between reads: the server's figure plus the time since.
            const age = queue.oldestQueuedAgeSeconds === null ? null : queue.oldestQueuedAgeSeconds + Math.max(0, now - fetchedAt) / 1000
            return (
              <tr key={queue.queue} data-testid={`queue-row-${queue.queue}`}>
                <th scope="row" class="queue-name">
                  <a href={href.jobs({ queue: queue.queue })}>{queue.queue}</a>
                  {queue.paused && <span class="badge badge-paused">paused</span>}
                </th>
                {JOB_STATES.map((state) => {
                  const count = queue.counts[state] ?? 0
                  return (
                    <td key={state} class={count === 0 ? 'num zero' : 'num'}>
                      <a
                        href={href.jobs({ queue: queue.queue, state })}
                        data-testid={`count-${queue.queue}-${state}`}
                        aria-label={`${count} ${state} in ${queue.queue}`}
                        class={`count count-${state}`}
                      >
                        {count}
                      </a>
                    </td>
                  )
                })}
                <td class="num">{age === null ? <span class="muted">—</span> : formatDuration(age)}</td>
                <td class="num">{windows(queue.enqueued)}</td>
                <td class="num">{windows(queue.completed)}</td>
                <td class={queue.failed['15m'] > 0 ? 'num failing' : 'num'}>{windows(queue.failed)}</td>
                {canAdmin && (
                  <td>
                    <button
                      type="button"
                      class="button button-small"
                      data-testid={`queue-${queue.paused ? 'resume' : 'pause'}-${queue.queue}`}
                      aria-label={`${queue.paused ? 'Resume' : 'Pause'} queue ${queue.queue}`}
                      disabled={busy === queue.queue}
                      onClick={() => void setPaused(queue.queue, !queue.paused)}
                    >
                      {queue.paused ? 'Resume' : 'Pause'}
                    </button>
                  </td>
                )}
              </tr>
            )
          })}
        </tbody>
      </table>
    </TableWrap>
  )
}

function windows(counts: { '1m': number; '5m': number; '15m': number }): string {
  return `${formatCount(counts['1m'])} · ${formatCount(counts['5m'])} · ${formatCount(counts['15m'])}`
}

const ALL = ''

/** Throughput and failure rate per minute over the last hour, for every queue together or one. */
function Charts({ activity }: { activity: ActivityAnswer }) {
  const [queue, setQueue] = useState(ALL)
  const chosen = activity.queues.find((item) => item.queue === queue)
  const series = useMemo(() => chosen ?? sum(activity.queues, Math.round(3600 / activity.bucketSeconds)), [activity, chosen])
  const start = Date.parse(activity.start)
  const bucketMs = activity.bucketSeconds * 1000
  const minute = (index: number): string =>
    new Date(start + index * bucketMs).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  const buckets = series.completed.length
  const span = Math.round((buckets * activity.bucketSeconds) / 60)
  const axis = [`${span}m ago`, `${Math.round(span / 2)}m ago`, 'now']

  const throughput: Bar[] = series.completed.map((value, index) => ({ value, label: `${minute(index)}: ${value} completed` }))
  const peak = Math.max(0, ...series.completed)
  const peakAt = series.completed.indexOf(peak)
  const totalCompleted = series.completed.reduce((a, b) => a + b, 0)
  const latest = series.completed.at(-1) ?? 0

  const rates: Bar[] = series.completed.map((completed, index) => {
    const failed = series.failed[index] ?? 0
    const finished = completed + failed
    if (finished === 0) return { value: null, label: `${minute(index)}: nothing finished` }
    return { value: failed / finished, label: `${minute(index)}: ${formatPercent(failed / finished)} (${failed} of ${finished} failed)` }
  })
  const totalFailed = series.failed.reduce((a, b) => a + b, 0)
  const worst = Math.max(0, ...rates.map((bar) => bar.value ?? 0))
  const overall = totalCompleted + totalFailed === 0 ? undefined : totalFailed / (totalCompleted + totalFailed)
  const since = Date.parse(activity.since)
  const partial = since > start

  return (
    <>
      <div class="chart-controls">
        <label>
          Queue{' '}
          <select value={queue} onChange={(event) => setQueue((event.target as HTMLSelectElement).value)}>
            <option value={ALL}>All queues</option>
            {activity.queues.map((item) => (
              <option key={item.queue} value={item.queue}>
                {item.queue}
              </option>
            ))}
          </select>
        </label>
        {partial && (
          <span class="muted">
            The server has counted since {new Date(since).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}; earlier
            minutes show nothing.
          </span>
        )}
      </div>
      <div class="charts">
        <BarChart
          title="Throughput (completed per minute)"
          testId="chart-throughput"
          bars={throughput}
          max={niceMax(peak, 5)}
          formatValue={(value) => formatCount(Math.round(value))}
          description={
            totalCompleted === 0
              ? 'No jobs completed in the last hour.'
              : `${formatCount(totalCompleted)} completed in the last hour; last minute ${latest}, peak ${peak} at ${minute(peakAt)}.`
          }
          axis={axis}
        />
        <BarChart
          title="Failure rate (failed ÷ finished per minute)"
          testId="chart-failure-rate"
          bars={rates}
          max={niceMax(worst, 0.05)}
          formatValue={formatPercent}
          tone="danger"
          description={
            overall === undefined
              ? 'No jobs finished in the last hour.'
              : `${formatPercent(overall)} of the jobs that finished in the last hour failed (${totalFailed} of ${totalFailed + totalCompleted}); worst minute ${formatPercent(worst)}.`
          }
          axis={axis}
        />
      </div>
    </>
  )
}

/** Every queue's series added bucket by bucket. */
function sum(queues: QueueActivity[], hour: number): QueueActivity {
  // No queue had activity: an hour of zeros, not an empty chart.
  const length = queues.length === 0 ? hour : Math.max(0, ...queues.map((queue) => queue.completed.length))
  const add = (pick: (queue: QueueActivity) => number[]): number[] =>
    Array.from({ length }, (_, index) => queues.reduce((total, queue) => total + (pick(queue)[index] ?? 0), 0))
  return { queue: ALL, enqueued: add((queue) => queue.enqueued), completed: add((queue) => queue.completed), failed: add((queue) => queue.failed) }
}
