import { Ago } from '../components/bits'
import { PolledList } from '../components/polled-list'
import { formatTime, plural } from '../format'
import { useNow, useTitle } from '../hooks'
import { href } from '../router'
import type { Schedule } from '../types'

/** Next runs move as ticks pass: read again often enough that "in 3 s" never lingers on a past tick for long. */
const REFRESH_MS = 5000

export function SchedulesPage() {
  useTitle('Schedules')
  const now = useNow(1000)
  return (
    <>
      <h1 tabIndex={-1}>Schedules</h1>
      <PolledList<Schedule>
        path="/v1/schedules"
        field="schedules"
        what="schedules"
        refreshMs={REFRESH_MS}
        empty={
          <>
            No cron schedule yet. Declare one in code (<code>createOffload(&#123; schedules &#125;)</code>) or run <code>offload schedules set …</code>.
          </>
        }
        summary={(list) => `${list.length} schedule${plural(list.length)}; workers enqueue their jobs at each tick.`}
      >
        {(list) => (
      <table class="table schedules-table">
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Cron</th>
            <th scope="col">Time zone</th>
            <th scope="col">Task</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {list.map((schedule) => (
            <tr key={schedule.name} data-testid={`schedule-row-${schedule.name}`}>
              <th scope="row" class="mono">
                {schedule.name}
              </th>
              <td class="mono">{schedule.cron}</td>
              <td>{schedule.timezone}</td>
              <td>
                <a href={href.jobs({ task: schedule.task })}>{schedule.task}</a> <span class="muted">on {schedule.queue}</span>
              </td>
              <td data-testid="next-run">
                {schedule.paused ? (
                  <span class="badge badge-paused">paused</span>
                ) : schedule.nextRunAt === null ? (
                  <span class="muted">never again</span>
                ) : (
                  <>
                    {formatTime(schedule.nextRunAt)} <span class="muted">(</span>
                    <Ago iso={schedule.nextRunAt} now={now} />
                    <span class="muted">)</span>
                  </>
                )}
              </td>
              <td>
                <Ago iso={schedule.lastRunAt} now={now} />
              </td>
              <td>{schedule.source === 'code' ? 'code' : 'API'}</td>
            </tr>
          ))}
        </tbody>
      </table>
        )}
      </PolledList>
    </>
  )
}
