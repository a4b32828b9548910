import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { wallNow } from '../lib/clock.js'
import { summarise } from '../lib/stats.js'
import { childMain } from './child.js'
import { HTTP_ACCEPTED as ACCEPTED, type HttpLoadOptions, type HttpLoadReport } from './protocol.js'

/** autocannon's own per-request timeout, seconds: far past any latency worth measuring. */
const REQUEST_TIMEOUT_S = 10

/**
 * `count` requests from `connections` keep-alive connections, one request in flight on each
 * (pipelining 1), then every response waited for. A count rather than a duration: autocannon ends
 * a timed run by destroying its sockets, and the requests in flight then become jobs nobody counted
 * — with a count, every job in the store had its 202 counted here. `onLast` runs at the last
 * response, before autocannon's own bookkeeping ends the run.
 */
function stretch(options: HttpLoadOptions, connections: number, count: number, timeLimitMs: number, onLast: () => void = () => {}): Promise<HttpLoadReport> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = []
    const statuses: Record<string, number> = {}
    let received = 0
    let cut = false
    let lastAt = 0
    const half = Math.floor(count / 2)
    let halfAt = 0
    const stop = (): void => {
      cut = true
      instance.stop()
    }
    const began = performance.now()
    const instance = autocannon(
      {
        url: options.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: options.body,
        connections,
        pipelining: 1,
        amount: count,
        timeout: REQUEST_TIMEOUT_S,
        // A request without an answer ends the stretch at once: the step fails anyway.
        bailout: 1,
        // autocannon notices the end of a run at its next sample: every 50 ms, not every second.
        sampleInt: 50,
      },
      (error: unknown, result: autocannon.Result) => {
        clearTimeout(timer)
        if (error !== null && error !== undefined) return reject(error instanceof Error ? error : new Error(String(error)))
        resolve({
          requests: count,
          statuses,
          errors: result.errors,
          ms: (lastAt || performance.now()) - began,
          lateRate: lastAt > halfAt && halfAt > 0 ? ((received - half) / (lastAt - halfAt)) * 1000 : 0,
          latency: summarise(latencies),
          cut: cut || result.errors > 0,
        })
      },
    )
    instance.on('response', (_client, status, _bytes, ms) => {
      received++
      statuses[status] = (statuses[status] ?? 0) + 1
      latencies.push(ms)
      lastAt = performance.now()
      if (received === half) halfAt = lastAt
      if (status !== ACCEPTED && !cut) stop()
      if (received === count) onLast()
    })
    const timer = setTimeout(stop, timeLimitMs)
  })
}

/**
 * The `http` step's load generator (`mode: 'http-load'`), a process of its own so that it shares
 * a thread with neither the bench's measuring code nor the server: autocannon POSTs one job per
 * request. On `start`, a warm-up of `warmupRequests` (connections opened, the server's code
 * compiled, the store's file grown); then as many requests as the warm-up's second half was
 * answered at makes in `seconds`, the measured stretch.
 */
childMain(async (config, send) => {
  const options = config.options as HttpLoadOptions
  return {
    start: async () => {
      const warmup = await stretch(options, config.concurrency, options.warmupRequests, options.timeLimitMs)
      const accepted = warmup.statuses[ACCEPTED] ?? 0
      if (warmup.cut || accepted < warmup.requests) {
        send({ type: 'http-load', warmup, measured: { requests: 0, statuses: {}, errors: 0, ms: 0, lateRate: 0, latency: summarise([]), cut: true } })
        return
      }
      const count = Math.max(config.concurrency * 20, Math.round(warmup.lateRate * options.seconds))
      send({ type: 'http-phase', phase: 'measuring', at: wallNow() })
      const measured = await stretch(options, config.concurrency, count, options.timeLimitMs, () => send({ type: 'http-phase', phase: 'measured', at: wallNow() }))
      send({ type: 'http-load', warmup, measured })
    },
    stop: async () => {},
  }
})
