import { Ago, ProgressView } from '../components/bits'
import { PolledList } from '../components/polled-list'
import { plural } from '../format'
import { useNow, useTitle } from '../hooks'
import { href } from '../router'
import type { Worker } from '../types'

/** Workers report themselves every few seconds; reading as often shows them as they are. */
const REFRESH_MS = 3000

export function WorkersPage() {
  useTitle('Workers')
  const now = useNow(1000)
  return (
    <>
      <h1 tabIndex={-1}>Workers</h1>
      <PolledList<Worker>
        path="/v1/workers"
        field="workers"
        what="workers"
        refreshMs={REFRESH_MS}
        empty={
          <>
            No worker is running. Start one with <code>offload worker --tasks …</code>.
          </>
        }
        summary={(list) => {
          const busy = list.reduce((sum, worker) => sum + worker.running.length, 0)
          const slots = list.reduce((sum, worker) => sum + worker.concurrency, 0)
          return `${list.length} worker process${plural(list.length, 'es')}, ${busy} of ${slots} slots busy.`
        }}
      >
        {(list) => (
      <table class="table workers-table">
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Host</th>
            <th scope="col" class="num">
              PID
            </th>
            <th scope="col">Queues</th>
            <th scope="col" class="num">
              Busy
            </th>
            <th scope="col">Started</th>
            <th scope="col">Last seen</th>
            <th scope="col">Running jobs</th>
          </tr>
        </thead>
        <tbody>
          {list.map((worker) => (
            <tr key={worker.id} data-testid={`worker-row-${worker.id}`}>
              <th scope="row" class="mono worker-id">
                {worker.id}
              </th>
              <td>{worker.host}</td>
              <td class="num">{worker.pid}</td>
              <td class="wrap">{worker.queues.join(', ')}</td>
              <td class="num">
                <meter min={0} max={worker.concurrency} value={worker.running.length} aria-label={`${worker.running.length} of ${worker.concurrency} busy`} />{' '}
                {worker.running.length}/{worker.concurrency}
              </td>
              <td>
                <Ago iso={worker.startedAt} now={now} />
              </td>
              <td>
                <Ago iso={worker.lastSeenAt} now={now} />
              </td>
              <td>
                {worker.running.length === 0 ? (
                  <span class="muted">idle</span>
                ) : (
                  <ul class="running">
                    {worker.running.map((job) => (
                      <li key={job.id}>
                        <a href={href.job(job.id)}>{job.task}</a> <span class="muted">({job.queue}, attempt {job.attempt})</span>{' '}
                        {job.progress !== null && <ProgressView value={job.progress} small />}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
        )}
      </PolledList>
    </>
  )
}
