/**
 * Invariants 1 and 2 with real processes: an acknowledged enqueue survives `kill -9`, and a job
 * whose worker is SIGKILLed mid-run is rescued and finished by another worker.
 */
import { afterEach, expect, test } from 'vitest'
import { createOffload, type Offload } from '../../src/index.js'
import { startAgent } from '../support/child.js'
import { probe } from './fixtures/probe-task.js'
import { tempDb } from '../support/temp.js'

const AGENT = 'test/process/fixtures/agent.ts'
const fastMaintenance = { leaderTtl: '1s', rescueInterval: '200ms', promoteInterval: '200ms' }
let offload: Offload | undefined

afterEach(async () => {
  await offload?.close()
  offload = undefined
})

test('every enqueue acknowledged before kill -9 is in the store afterwards', async () => {
  const store = `sqlite:${tempDb()}`
  const producer = startAgent(AGENT, { mode: 'enqueue', store, count: 1_000_000, parallel: 16 })
  // Kill mid-stream, while batches are being committed, not at a quiet moment.
  await producer.waitFor((message) => message.type === 'acked' && (message.n as number) >= 1500, '1500 acknowledgements')
  await producer.kill('SIGKILL')
  const acked = producer.messages.filter((message) => message.type === 'acked').map((message) => message.id as string)
  expect(acked.length).toBeGreaterThanOrEqual(1500)

  offload = createOffload({ store, logger: false })
  const missing: string[] = []
  for (const id of acked) if ((await offload.getJob(id)) === undefined) missing.push(id)
  expect(missing).toEqual([])
})

test('a worker SIGKILLed mid-job loses its lease; another worker completes the job; the log shows the rescue', async () => {
  const store = `sqlite:${tempDb()}`
  const doomed = startAgent(AGENT, { mode: 'worker', store, hang: true, leaseDuration: '1s', maintenance: fastMaintenance })
  await doomed.waitForType('ready')
  offload = createOffload({ store, logger: false, tasks: [probe] })
  const job = await offload.enqueue('probe', { n: 1 })
  const started = await doomed.waitFor((message) => message.type === 'started' && message.id === job.id, 'the job start')
  expect(started.attempt).toBe(1)
  await doomed.kill('SIGKILL')

  const rescuer = startAgent(AGENT, { mode: 'worker', store, leaseDuration: '1s', maintenance: fastMaintenance })
  await rescuer.waitForType('ready')
  const result = await job.result({ timeout: '30s' })
  expect(result).toEqual({ pid: rescuer.pid })

  const events = await offload.jobEvents(job.id)
  expect(events.map((event) => event.type)).toEqual(['enqueued', 'started', 'rescued', 'started', 'completed'])
  expect(events[1]!.data).toMatchObject({ workerId: expect.stringContaining(`:${doomed.pid}:`) })
  expect(events[2]!.data).toMatchObject({ error: { name: 'LeaseExpired' } })
  expect(events[3]!.data).toMatchObject({ workerId: expect.stringContaining(`:${rescuer.pid}:`) })
  const finished = await job.get()
  expect(finished).toMatchObject({ state: 'completed', attempt: 2 })
  expect(finished.errors).toHaveLength(1)
  expect(finished.errors[0]).toMatchObject({ attempt: 1, name: 'LeaseExpired' })

  await rescuer.kill('SIGTERM')
  expect((await rescuer.exited).code).toBe(0)
})

test('SIGTERM lets a worker hand running jobs back without spending their attempt', async () => {
  const store = `sqlite:${tempDb()}`
  const worker = startAgent(AGENT, { mode: 'worker', store, hang: true, shutdownGrace: '100ms' })
  await worker.waitForType('ready')
  offload = createOffload({ store, logger: false, tasks: [probe] })
  const job = await offload.enqueue('probe', {})
  await worker.waitFor((message) => message.type === 'started' && message.id === job.id, 'the job start')

  await worker.kill('SIGTERM')
  expect(await worker.exited).toEqual({ code: 0, signal: null })
  expect(worker.messages).toContainEqual({ type: 'aborted', id: job.id, reason: 'shutdown' })
  const released = await job.get()
  expect(released).toMatchObject({ state: 'queued', attempt: 0, errors: [] })
  expect((await offload.jobEvents(job.id)).map((event) => event.type)).toEqual(['enqueued', 'started', 'released'])
})
