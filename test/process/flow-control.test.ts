/**
 * Flow control with real worker processes on both stores: a queue's rate limit and concurrency
 * limit and a group's concurrency limit hold across three processes, and round-robin between
 * groups keeps a small group from waiting behind a big one. The checks read the store's own
 * times (a job's start is its claim, its finish the write of its outcome), so they do not depend
 * on how fast this machine is: only the per-window count of a rate limit is about time, and that
 * is the requirement.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, type JobHandle, type JobInfo, type Offload, type QueueOptions } from '../../src/index.js'
import { startAgent, type Agent } from '../support/child.js'
import { tempStoreUrl } from '../support/postgres.js'
import { tempDb } from '../support/temp.js'
import { flowJob } from './fixtures/flow-task.js'

const WORKER = 'test/process/fixtures/flow-worker.ts'

const STORES = [
  { name: 'SQLite', url: () => `sqlite:${tempDb()}` },
  { name: 'PostgreSQL', url: () => tempStoreUrl('flow') },
]

let offload: Offload | undefined
afterEach(async () => {
  await offload?.close()
  offload = undefined
})

describe.each(STORES)('flow control across 3 worker processes ($name)', ({ url }) => {
  /** Migrates a fresh store, runs `before` (enqueues with no worker yet), then starts the 3 workers. */
  async function start(queues: Record<string, QueueOptions>, before?: () => Promise<void>): Promise<{ store: string; workers: Agent[] }> {
    const concurrency = 10
    const store = url()
    offload = createOffload({ store, logger: false, tasks: [flowJob], queues })
    await offload.migrate()
    await before?.()
    const workers = [0, 1, 2].map(() => startAgent(WORKER, { store, queues, concurrency }))
    await Promise.all(workers.map((worker) => worker.waitForType('ready')))
    return { store, workers }
  }

  async function stop(workers: Agent[]): Promise<void> {
    await Promise.all(workers.map((worker) => worker.kill('SIGTERM')))
    for (const worker of workers) expect((await worker.exited).code).toBe(0)
  }

  test('a rate limit holds within one job per window, and windows fill up to it', async () => {
    const limit = 8
    const intervalMs = 500
    const { workers } = await start({ rated: { rateLimit: { limit, interval: intervalMs } } })
    const handles = await offload!.enqueueMany(Array.from({ length: 48 }, () => ({ task: 'flow.job', payload: { ms: 5 }, options: { queue: 'rated' } })))
    await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })))
    const jobs = await Promise.all(handles.map((handle) => handle.get()))
    await stop(workers)

    const perWindow = new Map<number, number>()
    for (const job of jobs) {
      const window = Math.floor(job.startedAt!.getTime() / intervalMs)
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1)
    }
    const windows = [...perWindow.keys()].sort((a, b) => a - b)
    for (const window of windows) expect(perWindow.get(window), `starts in window ${window}`).toBeLessThanOrEqual(limit + 1)
    // 48 jobs at 8 a window: 6 full windows. Between the first and the last, a window that started
    // far fewer would mean the limit throttles below itself (a missed wake-up at a window's start).
    for (const window of windows.slice(1, -1)) expect(perWindow.get(window), `starts in window ${window}`).toBeGreaterThanOrEqual(limit - 1)
  })

  test('a concurrency limit is never exceeded, sampled throughout the run and by the jobs\' own times', async () => {
    const cap = 4
    const { workers } = await start({ capped: { concurrency: cap } })
    const handles = await offload!.enqueueMany(Array.from({ length: 80 }, () => ({ task: 'flow.job', payload: { ms: 20 }, options: { queue: 'capped' } })))
    const done = Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })))
    let finished = false
    // Either way: a failed run must end the sampling, not spin on it.
    void done.finally(() => (finished = true)).catch(() => {})
    const samples: number[] = []
    while (!finished) {
      const queue = (await offload!.listQueues()).find((info) => info.queue === 'capped')
      samples.push(queue?.counts.running ?? 0)
      // A sampling interval, not a wait: a SQLite read resolves without yielding to timers and I/O.
      await sleep(5)
    }
    await done
    const jobs = await Promise.all(handles.map((handle) => handle.get()))
    await stop(workers)

    expect(samples.length).toBeGreaterThan(5)
    expect(Math.max(...samples)).toBeLessThanOrEqual(cap)
    expect(maxOverlap(jobs)).toBeLessThanOrEqual(cap)
    // The limit is a limit, not a serialisation: several ran at once.
    expect(maxOverlap(jobs)).toBeGreaterThan(1)
  })

  test('a per-group limit holds for every group, while other groups run beside it', async () => {
    const cap = 2
    const { workers } = await start({ tenants: { groupConcurrency: cap } })
    const items = ['a', 'b', 'c'].flatMap((group) =>
      Array.from({ length: 20 }, () => ({ task: 'flow.job', payload: { ms: 20 }, options: { queue: 'tenants', group } })),
    )
    const handles = await offload!.enqueueMany(items)
    await Promise.all(handles.map((handle) => handle.result({ timeout: '60s' })))
    const jobs = await Promise.all(handles.map((handle) => handle.get()))
    await stop(workers)

    for (const group of ['a', 'b', 'c']) {
      expect(maxOverlap(jobs.filter((job) => job.group === group)), `group ${group}`).toBeLessThanOrEqual(cap)
    }
    // Groups ran side by side: more than one group's limit at once.
    expect(maxOverlap(jobs)).toBeGreaterThan(cap)
  })

  test('a group with 10 jobs finishes within the first 5% of the run of a group with 10,000 enqueued before it', async () => {
    let big: JobHandle[] = []
    let small: JobHandle[] = []
    // Both backlogs wait before any worker starts: first in, the big group would win a plain queue.
    const { workers } = await start({ shared: {} }, async () => {
      big = await offload!.enqueueMany(Array.from({ length: 10_000 }, () => ({ task: 'flow.job', payload: { ms: 0 }, options: { queue: 'shared', group: 'big' } })))
      small = await offload!.enqueueMany(Array.from({ length: 10 }, () => ({ task: 'flow.job', payload: { ms: 0 }, options: { queue: 'shared', group: 'small' } })))
    })
    await Promise.all([...big, ...small].map((handle) => handle.result({ timeout: '120s' })))
    const smallJobs = await Promise.all(small.map((handle) => handle.get()))
    // The big group's first and last jobs by rank: the first and last of its run.
    const first = await big[0]!.get()
    const last = await big[big.length - 1]!.get()
    await stop(workers)

    const runStart = first.startedAt!.getTime()
    const run = last.finishedAt!.getTime() - runStart
    const smallDone = Math.max(...smallJobs.map((job) => job.finishedAt!.getTime())) - runStart
    expect(smallDone).toBeLessThanOrEqual(run * 0.05)
  })
})

/** The most jobs whose [start, finish) intervals overlap at one moment; a finish at the same instant as a start comes first. */
function maxOverlap(jobs: readonly JobInfo[]): number {
  const edges = jobs.flatMap((job) => [
    [job.startedAt!.getTime(), 1],
    [job.finishedAt!.getTime(), -1],
  ])
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!)
  let running = 0
  let max = 0
  for (const [, change] of edges) max = Math.max(max, (running += change!))
  return max
}
