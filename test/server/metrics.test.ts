import { register as globalRegistry } from 'prom-client'
import { expect, test } from 'vitest'
import { createOffload, PermanentError } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { samples } from '../support/prometheus.js'
import { SseClient } from './events-client.js'
import { closeAfterTest, get, startTestServer } from './events-server.js'


function setup() {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, logger: false })
  closeAfterTest(offload)
  const quick = offload.task('quick', { queue: 'fast', run: (input: { n: number }) => input.n * 2 })
  const broken = offload.task('broken', {
    attempts: 1,
    run: () => {
      throw new PermanentError('no')
    },
  })
  return { offload, quick, broken }
}

/** Waits, on a stream of /v1/events, until `count` jobs finished: the hub has then shown them to the metrics too. */
async function outcomes(events: SseClient, count: number): Promise<void> {
  await events.waitFor(() => events.events.filter((event) => event.type === 'completed' || event.type === 'failed').length >= count, `${count} outcomes`)
}

test('GET /metrics counts the work seen in the event log and reads job and queue gauges from the store', async () => {
  const { offload, quick, broken } = setup()
  const server = await startTestServer(offload)
  const events = await SseClient.open(`${server.url}/v1/events`)
  await offload.work({ handleSignals: false, id: 'worker-1' })
  await quick.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ payload: { n } })))
  await broken.enqueueMany([{ payload: undefined }, { payload: undefined }])
  await outcomes(events, 7)
  // The CPU counter counts from when the server's registry was made, and the kernel charges CPU
  // time in ticks: work until the process's own reading has moved, so the scrape must see it move.
  const before = process.cpuUsage().user
  while (process.cpuUsage().user === before) Math.sqrt(Math.random())

  const answer = await get(`${server.url}/metrics`)
  expect(answer.status).toBe(200)
  expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
  const metrics = samples(answer.text)
  expect(metrics.get('offload_jobs_enqueued_total{queue="fast",task="quick"}')).toBe(5)
  expect(metrics.get('offload_jobs_completed_total{queue="fast",task="quick"}')).toBe(5)
  expect(metrics.get('offload_jobs_enqueued_total{queue="default",task="broken"}')).toBe(2)
  expect(metrics.get('offload_jobs_failed_total{queue="default",task="broken"}')).toBe(2)
  expect(metrics.has('offload_jobs_completed_total{queue="default",task="broken"}')).toBe(false)
  expect(metrics.get('offload_job_run_seconds_count{queue="fast",task="quick"}')).toBe(5)
  expect(metrics.get('offload_job_run_seconds_count{queue="default",task="broken"}')).toBe(2)
  expect(metrics.get('offload_job_run_seconds_bucket{le="+Inf",queue="fast",task="quick"}')).toBe(5)
  expect(metrics.get('offload_job_wait_seconds_count{queue="fast",task="quick"}')).toBe(5)
  expect(metrics.get('offload_job_wait_seconds_sum{queue="fast",task="quick"}')).toBeGreaterThanOrEqual(0)
  expect(metrics.get('offload_jobs{queue="fast",state="completed"}')).toBe(5)
  expect(metrics.get('offload_jobs{queue="fast",state="queued"}')).toBe(0)
  expect(metrics.get('offload_jobs{queue="default",state="failed"}')).toBe(2)
  expect(metrics.get('offload_queue_paused{queue="fast"}')).toBe(0)
  expect(metrics.get('offload_queue_oldest_queued_seconds{queue="fast"}')).toBe(0)
  expect(metrics.get('offload_workers')).toBe(1)
  expect(answer.text).toContain('# HELP offload_workers Distinct worker ids that started a job in the last minute')
  // The process's own metrics, in Offload's namespace.
  expect(metrics.get('offload_process_cpu_user_seconds_total')).toBeGreaterThan(0)
  expect(metrics.has('offload_nodejs_eventloop_lag_seconds')).toBe(true)

  // A paused queue with a backlog: the gauges follow the store at the next scrape.
  await offload.pauseQueue('fast')
  await quick.enqueueMany([{ payload: { n: 1 } }, { payload: { n: 2 } }])
  const later = samples((await get(`${server.url}/metrics`)).text)
  expect(later.get('offload_queue_paused{queue="fast"}')).toBe(1)
  expect(later.get('offload_jobs{queue="fast",state="queued"}')).toBe(2)
  expect(later.get('offload_queue_oldest_queued_seconds{queue="fast"}')).toBeGreaterThanOrEqual(0)
  expect(later.get('offload_jobs_enqueued_total{queue="fast",task="quick"}')).toBeGreaterThanOrEqual(5)

  const unknown = await get(`${server.url}/metrics?format=json`)
  expect(unknown.status).toBe(400)
})

test('two servers in one process keep separate registries, and prom-client’s global one stays empty', async () => {
  const one = setup()
  const two = setup()
  const first = await startTestServer(one.offload)
  const second = await startTestServer(two.offload)
  const events = await SseClient.open(`${first.url}/v1/events`)
  await one.offload.work({ handleSignals: false })
  await one.quick.enqueueMany(Array.from({ length: 3 }, (_, n) => ({ payload: { n } })))
  await outcomes(events, 3)

  const mine = samples((await get(`${first.url}/metrics`)).text)
  const theirs = samples((await get(`${second.url}/metrics`)).text)
  expect(mine.get('offload_jobs_completed_total{queue="fast",task="quick"}')).toBe(3)
  expect(theirs.has('offload_jobs_completed_total{queue="fast",task="quick"}')).toBe(false)
  expect(theirs.get('offload_workers')).toBe(0)
  expect(await globalRegistry.metrics()).toBe('\n')
})
