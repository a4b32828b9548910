import { useState } from 'preact/hooks'
import { api, isMissingEndpoint } from '../api'
import { Ago, Loading, TableWrap, Unavailable } from '../components/bits'
import { formatCount, formatDuration, formatPercent, plural } from '../format'
import { useLoader, useNow, usePolling, useTitle } from '../hooks'
import { showError, showNote } from '../notices'
import { href } from '../router'
import { useAllows } from '../session'

/** One circuit breaker as `GET /v1/breakers` describes it. */
interface Breaker {
  task: string
  group: string | null
  state: 'closed' | 'open' | 'half_open'
  failureRate: number
  volume: number
  openedAt: string | null
  cooldownUntil: string | null
  probesInFlight: number
  settings: { threshold: number; minVolume: number; windowMs: number; cooldownMs: number; probes: number }
  transitions: { closed: number; open: number; half_open: number }
  updatedAt: string
}

/** Workers re-read breakers every half second; a page a few seconds behind is close enough for people. */
const REFRESH_MS = 2000

const STATE_LABELS: Record<Breaker['state'], string> = { closed: 'closed', open: 'open', half_open: 'half-open' }

export function BreakersPage() {
  useTitle('Breakers')
  const canAdmin = useAllows('admin')
  const now = useNow(1000)
  const breakers = useLoader((signal) => api<{ breakers: Breaker[] }>('GET', '/v1/breakers', undefined, { signal }), [], {
    what: 'Could not load the circuit breakers',
  })
  usePolling(() => {
    if (!isMissingEndpoint(breakers.error) && !breakers.loading) breakers.reload()
  }, REFRESH_MS)
  const [busy, setBusy] = useState<string | undefined>(undefined)

  const reset = async (breaker: Breaker): Promise<void> => {
    const name = nameOf(breaker)
    setBusy(name)
    try {
      await api('POST', `/v1/breakers/${encodeURIComponent(breaker.task)}/reset`, breaker.group === null ? {} : { group: breaker.group })
      showNote(`Circuit breaker of ${name} closed: workers claim its jobs again within a second.`)
      breakers.reload()
    } catch (error) {
      showError(error, `Could not reset the circuit breaker of ${name}`)
    } finally {
      setBusy(undefined)
    }
  }

  const list = breakers.data?.breakers
  const tripped = list?.filter((breaker) => breaker.state !== 'closed').length ?? 0
  return (
    <>
      <h1 tabIndex={-1}>Circuit breakers</h1>
      {isMissingEndpoint(breakers.error) ? (
        <Unavailable what="The list of circuit breakers" />
      ) : list === undefined ? (
        breakers.error ? <p class="muted">The circuit breakers could not be loaded.</p> : <Loading what="circuit breakers" />
      ) : list.length === 0 ? (
        <p class="empty">
          No circuit breaker has recorded anything yet. Give a task one with its <code>breaker</code> option.
        </p>
      ) : (
        <>
          <p class="muted" data-testid="breakers-summary">
            {list.length} breaker{plural(list.length)}, {tripped} not closed. While a breaker is open its jobs wait in the queue, not failed.
            Refreshed every {REFRESH_MS / 1000} s.
          </p>
          <TableWrap label="Circuit breakers">
            <table class="table breakers-table">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Group</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">
                    Failure rate
                  </th>
                  <th scope="col" class="num">
                    Attempts in window
                  </th>
                  <th scope="col">Cooldown ends</th>
                  <th scope="col">Settings</th>
                  <th scope="col" class="num">
                    Times opened
                  </th>
                  {canAdmin && (
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {list.map((breaker) => {
                  const name = nameOf(breaker)
                  const testId = `breaker-${breaker.task}${breaker.group === null ? '' : `-${breaker.group}`}`
                  return (
                    <tr key={name} data-testid={testId}>
                      <th scope="row">
                        <a href={href.jobs({ task: breaker.task, state: 'queued' })}>{breaker.task}</a>
                      </th>
                      <td>{breaker.group ?? <span class="muted">all</span>}</td>
                      <td>
                        <span class={`badge breaker-${breaker.state}`} data-testid={`${testId}-state`}>
                          {STATE_LABELS[breaker.state]}
                        </span>
                        {breaker.state === 'half_open' && (
                          <span class="muted">
                            {' '}
                            {breaker.probesInFlight}/{breaker.settings.probes} probe{plural(breaker.settings.probes)}
                          </span>
                        )}
                      </td>
                      <td class={breaker.failureRate >= breaker.settings.threshold ? 'num failing' : 'num'}>{formatPercent(breaker.failureRate)}</td>
                      <td class="num">{formatCount(Math.round(breaker.volume))}</td>
                      <td>{breaker.cooldownUntil === null ? <span class="muted">—</span> : <Ago iso={breaker.cooldownUntil} now={now} />}</td>
                      <td class="muted wrap">
                        opens at ≥ {formatPercent(breaker.settings.threshold)} failed of ≥ {breaker.settings.minVolume} attempts in{' '}
                        {formatDuration(breaker.settings.windowMs / 1000)}; cooldown {formatDuration(breaker.settings.cooldownMs / 1000)}
                      </td>
                      <td class="num">{formatCount(breaker.transitions.open)}</td>
                      {canAdmin && (
                        <td>
                          <button
                            type="button"
                            class="button button-small"
                            data-testid={`${testId}-reset`}
                            aria-label={`Reset the circuit breaker of ${name}`}
                            disabled={busy === name || breaker.state === 'closed'}
                            onClick={() => void reset(breaker)}
                          >
                            Reset
                          </button>
                        </td>
                      )}
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </>
  )
}

function nameOf(breaker: Breaker): string {
  return breaker.group === null ? `task ${breaker.task}` : `task ${breaker.task}, group ${breaker.group}`
}
