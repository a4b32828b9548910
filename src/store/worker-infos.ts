import type { Json } from '../job.js'
import type { WorkerInfo, WorkerJob } from './store.js'

/** A registry row as each store reads it, its times as `Date`s and its queues parsed. */
export interface WorkerRow {
  id: string
  host: string
  pid: number
  queues: string[]
  concurrency: number
  started_at: Date
  last_seen_at: Date
}

/** A running job of one of the workers listed. */
export interface WorkerJobRow {
  worker_id: string
  id: string
  task: string
  queue: string
  attempt: number
  started_at: Date | null
  progress: Json | null
}

/** `workerList`'s answer: each worker with its running jobs, in the order the jobs come. */
export function workerInfos(workers: readonly WorkerRow[], jobs: readonly WorkerJobRow[]): WorkerInfo[] {
  const running = new Map<string, WorkerJob[]>()
  for (const job of jobs) {
    const held: WorkerJob = { id: job.id, task: job.task, queue: job.queue, attempt: job.attempt }
    if (job.started_at !== null) held.startedAt = job.started_at
    if (job.progress !== null) held.progress = job.progress
    let list = running.get(job.worker_id)
    if (list === undefined) running.set(job.worker_id, (list = []))
    list.push(held)
  }
  return workers.map((worker) => ({
    id: worker.id,
    host: worker.host,
    pid: worker.pid,
    queues: worker.queues,
    concurrency: worker.concurrency,
    startedAt: worker.started_at,
    lastSeenAt: worker.last_seen_at,
    running: running.get(worker.id) ?? [],
  }))
}
