/**
 * Real worker processes on one PostgreSQL schema: many of them drain a large backlog running every
 * job exactly once; a SIGKILLed worker's jobs are rescued and finished by another; when the
 * maintenance leader is killed, another process takes over within the documented bound.
 */
import { afterEach, expect, test } from 'vitest'
import { createOffload, type Offload } from '../../src/index.js'
import { startAgent, type Agent } from '../support/child.js'
import { adminQuery } from '../support/postgres.js'
import { createRunsTable, problems, testSchema, waitForCount } from '../support/postgres-process.js'
import { probe } from './fixtures/probe-task.js'

const AGENT = 'test/process/fixtures/agent.ts'
let offload: Offload | undefined

afterEach(async () => {
  await offload?.close()
  offload = undefined
})

async function stopAll(agents: Agent[]): Promise<void> {
  await Promise.all(agents.map((agent) => agent.kill('SIGTERM')))
  for (const agent of agents) expect((await agent.exited).code).toBe(0)
}

test('four worker processes drain 20,000 jobs enqueued in bulk: each runs exactly once and completes on attempt 1', async () => {
  const schema = testSchema('many')
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  await offload.migrate()
  await createRunsTable(schema)
  const workers = [0, 1, 2, 3].map(() => startAgent(AGENT, { mode: 'worker', store: schema.store, concurrency: 25, quiet: true, record: schema.record }))
  await Promise.all(workers.map((worker) => worker.waitForType('ready')))

  const total = 20_000
  const ids: string[] = []
  for (let n = 0; n < total; n += 2_000) {
    const handles = await offload.enqueueMany(Array.from({ length: 2_000 }, (_, i) => ({ task: 'probe', payload: { n: n + i } })))
    ids.push(...handles.map((handle) => handle.id))
  }
  expect(new Set(ids).size).toBe(total)
  const results = await Promise.all(ids.map((id) => offload!.result<{ pid: number }>(id, { timeout: '90s' })))
  await stopAll(workers)

  // The handlers' own record, outside the store: one execution per job, attempt 1, every process took part.
  const runs = await adminQuery<{ job_id: string; attempt: number; pid: number }>(`SELECT job_id, attempt, pid FROM ${schema.runs}`)
  expect(runs).toHaveLength(total)
  expect(new Set(runs.map((run) => run.job_id))).toEqual(new Set(ids))
  expect(runs.filter((run) => run.attempt !== 1)).toEqual([])
  const pids = workers.map((worker) => worker.pid).sort()
  expect([...new Set(runs.map((run) => run.pid))].sort()).toEqual(pids)
  expect([...new Set(results.map((result) => result.pid))].sort()).toEqual(pids)

  // The store agrees: every job completed, on its first attempt.
  expect(await offload.countJobs()).toEqual([{ queue: 'default', state: 'completed', count: total }])
  let cursor: string | undefined
  let seen = 0
  do {
    const page = await offload.listJobs({ limit: 1000, cursor })
    expect(page.jobs.filter((job) => job.state !== 'completed' || job.attempt !== 1)).toEqual([])
    seen += page.jobs.length
    cursor = page.nextCursor
  } while (cursor !== undefined)
  expect(seen).toBe(total)
  expect(problems(workers)).toEqual([])
})

test('a worker SIGKILLed with jobs running loses them to the rescuer; another worker finishes them; the log shows rescued', async () => {
  const schema = testSchema('kill')
  const fast = { leaseDuration: '1s', maintenance: { leaderTtl: '1s', rescueInterval: '200ms', promoteInterval: '200ms' } }
  const doomed = startAgent(AGENT, { mode: 'worker', store: schema.store, hang: true, concurrency: 5, ...fast })
  await doomed.waitForType('ready')
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  const handles = await offload.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ task: 'probe', payload: { n } })))
  // Its five slots fill; the other fifteen jobs wait in the queue.
  await waitForCount([doomed], (message) => message.type === 'started', 5, 'job starts')
  await doomed.kill('SIGKILL')
  const killed = new Set(doomed.messages.filter((message) => message.type === 'started').map((message) => message.id as string))
  expect(killed.size).toBe(5)

  const rescuer = startAgent(AGENT, { mode: 'worker', store: schema.store, concurrency: 10, ...fast })
  await rescuer.waitForType('ready')
  const results = await Promise.all(handles.map((handle) => handle.result({ timeout: '30s' })))
  expect(results).toEqual(handles.map(() => ({ pid: rescuer.pid })))

  for (const handle of handles) {
    const job = await handle.get()
    const events = await offload.jobEvents(handle.id)
    if (!killed.has(handle.id)) {
      expect(job).toMatchObject({ state: 'completed', attempt: 1, errors: [] })
      expect(events.map((event) => event.type)).toEqual(['enqueued', 'started', 'completed'])
      continue
    }
    expect(job).toMatchObject({ state: 'completed', attempt: 2 })
    expect(job.errors).toEqual([expect.objectContaining({ attempt: 1, name: 'LeaseExpired' })])
    expect(events.map((event) => event.type)).toEqual(['enqueued', 'started', 'rescued', 'started', 'completed'])
    expect(events[1]!.data).toMatchObject({ workerId: expect.stringContaining(`:${doomed.pid}:`) })
    expect(events[2]).toMatchObject({ state: 'queued', attempt: 1, data: { error: { name: 'LeaseExpired' } } })
    expect(events[3]!.data).toMatchObject({ workerId: expect.stringContaining(`:${rescuer.pid}:`) })
  }
  await stopAll([rescuer])
  expect(problems([doomed, rescuer])).toEqual([])
})

test('when the maintenance leader is killed, the other process takes over within the documented bound and does its duties', async () => {
  const schema = testSchema('lead')
  // promoteInterval 1h: a due job is promoted only through the leader's timing, never a periodic tick.
  const leaderTtlMs = 2_000
  const settings = { leaseDuration: '1s', verbose: true, maintenance: { leaderTtl: `${leaderTtlMs}ms`, rescueInterval: '200ms', promoteInterval: '1h' } }
  const becameLeader = (message: { type: string; message?: unknown }): boolean =>
    message.type === 'debug' && message.message === 'became the maintenance leader'
  const first = startAgent(AGENT, { mode: 'worker', store: schema.store, hang: true, concurrency: 1, ...settings })
  await first.waitFor(becameLeader, 'its election')
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  // A job the leader holds when it dies: only the rescuer (a leader's duty) can free it.
  const held = await offload.enqueue('probe', { n: 1 })
  await first.waitFor((message) => message.type === 'started' && message.id === held.id, 'the held job start')
  const second = startAgent(AGENT, { mode: 'worker', store: schema.store, concurrency: 5, ...settings })
  await second.waitForType('ready')
  expect(second.messages.filter(becameLeader)).toEqual([])

  await first.kill('SIGKILL')
  const killedAt = performance.now()
  // Due while nobody leads: only a leader's promoter can make it claimable.
  const delayed = await offload.enqueue('probe', { n: 2 }, { delay: '200ms' })
  await second.waitFor(becameLeader, 'its election after the leader died', 10_000)
  const takeoverMs = performance.now() - killedAt
  // docs/lifecycle.md: leadership lapses within leaderTtl of the last renewal and the others try
  // every third of it, so a dead leader is replaced within about 4/3 of leaderTtl. The margin of
  // one more TTL absorbs a loaded machine; a takeover that waits for anything but the lapsed lease
  // (a later renewal, another timer) would take far longer or never come.
  expect(takeoverMs).toBeLessThan((leaderTtlMs * 4) / 3 + leaderTtlMs)

  expect(await delayed.result({ timeout: '10s' })).toEqual({ pid: second.pid })
  expect((await offload.jobEvents(delayed.id)).map((event) => event.type)).toEqual(['enqueued', 'promoted', 'started', 'completed'])
  expect(await held.result({ timeout: '10s' })).toEqual({ pid: second.pid })
  expect((await offload.jobEvents(held.id)).map((event) => event.type)).toEqual(['enqueued', 'started', 'rescued', 'started', 'completed'])
  await stopAll([second])
  expect(problems([first, second])).toEqual([])
})
