import { Counter, Gauge, type Registry } from 'prom-client'
import type { BreakerInfo, BreakerState } from '../store/store.js'

const STATE_VALUES: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 }

/**
 * The circuit breakers' metrics, read from the store at each scrape like the job gauges, so they
 * are true for every worker on the store: the state of each breaker, and its transitions as the
 * store counts them (since the breaker was first recorded, so a counter that survives restarts).
 * `group` is '' for a task-wide breaker.
 */
export class BreakerMetrics {
  private readonly state: Gauge<'task' | 'group'>
  private readonly transitions: Counter<'task' | 'group' | 'to'>

  constructor(registers: Registry[]) {
    this.state = new Gauge({
      name: 'offload_breaker_state',
      help: 'Circuit breaker state, read at scrape: 0 closed, 1 half-open, 2 open.',
      labelNames: ['task', 'group'],
      registers,
    })
    this.transitions = new Counter({
      name: 'offload_breaker_transitions_total',
      help: 'Circuit breaker transitions to each state, as the store counts them for every worker, read at scrape.',
      labelNames: ['task', 'group', 'to'],
      registers,
    })
  }

  set(breakers: readonly BreakerInfo[]): void {
    // Reset first: a breaker that no longer exists drops out rather than keep its last values.
    this.state.reset()
    this.transitions.reset()
    for (const info of breakers) {
      const labels = { task: info.task, group: info.group ?? '' }
      this.state.set(labels, STATE_VALUES[info.state])
      for (const to of Object.keys(STATE_VALUES) as BreakerState[]) this.transitions.inc({ ...labels, to }, info.transitions[to])
    }
  }
}
