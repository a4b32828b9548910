/**
 * The worker registry with real processes: a worker SIGKILLed mid-job stays listed until its beats
 * have been missing `aliveWithin`, then drops out; one stopped cleanly leaves at once.
 */
import { hostname } from 'node:os'
import { afterEach, expect, test } from 'vitest'
import { createOffload, type Offload, type WorkerInfo } from '../../src/index.js'
import { startAgent } from '../support/child.js'
import { tempDb } from '../support/temp.js'
import { probe } from './fixtures/probe-task.js'

const AGENT = 'test/process/fixtures/agent.ts'
let offload: Offload | undefined

afterEach(async () => {
  await offload?.close()
  offload = undefined
})

/** Lists workers until `done` accepts the list; the deadline only bounds a failing test. */
async function listUntil(o: Offload, aliveWithin: string, done: (workers: WorkerInfo[]) => boolean, what: string): Promise<WorkerInfo[]> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const workers = await o.listWorkers({ aliveWithin })
    if (done(workers)) return workers
    if (Date.now() > deadline) throw new Error(`workers never ${what}: ${JSON.stringify(workers)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('a SIGKILLed worker drops out of listWorkers after aliveWithin; a cleanly stopped one leaves at once; a running job shows under its worker', async () => {
  const store = `sqlite:${tempDb()}`
  // A 1 s lease: the worker beats every 333 ms.
  const doomed = startAgent(AGENT, { mode: 'worker', store, hang: true, leaseDuration: '1s' })
  const survivor = startAgent(AGENT, { mode: 'worker', store, leaseDuration: '1s' })
  await Promise.all([doomed.waitForType('ready'), survivor.waitForType('ready')])
  offload = createOffload({ store, logger: false, tasks: [probe] })

  const workers = await offload.listWorkers()
  expect(workers.map((worker) => worker.pid).sort()).toEqual([doomed.pid, survivor.pid].sort())
  for (const worker of workers) {
    expect(worker).toMatchObject({ host: hostname(), queues: ['default', 'offload.webhooks'], concurrency: 10 })
    expect(worker.id).toContain(`:${worker.pid}:`)
  }

  // The doomed worker hangs on the job it claims: take the survivor out of the way first.
  await survivor.kill('SIGTERM')
  expect((await survivor.exited).code).toBe(0)
  // Stopped cleanly: gone at once, whatever the window.
  expect((await offload.listWorkers({ aliveWithin: '1h' })).map((worker) => worker.pid)).toEqual([doomed.pid])

  const job = await offload.enqueue('probe', {})
  await doomed.waitFor((message) => message.type === 'started' && message.id === job.id, 'the job start')
  const [busy] = await offload.listWorkers()
  expect(busy!.running).toEqual([{ id: job.id, task: 'probe', queue: 'default', attempt: 1, startedAt: expect.any(Date) }])

  await doomed.kill('SIGKILL')
  const killedAt = Date.now()
  // Still listed within the default window (three missed beats of at most 5 s)…
  expect((await offload.listWorkers()).map((worker) => worker.pid)).toEqual([doomed.pid])
  // …and gone once its last beat is older than the window asked for.
  await listUntil(offload, '1s', (list) => list.length === 0, 'dropped the killed worker')
  expect(Date.now() - killedAt).toBeGreaterThanOrEqual(500)
})
