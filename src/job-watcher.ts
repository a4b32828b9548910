import { isOffloadError, OffloadError } from './errors.js'
import { isFinished, type JobInfo } from './job.js'
import type { Logger } from './logger.js'
import type { Store, StoreNote } from './store/store.js'

interface Waiter {
  resolve: (job: JobInfo) => void
  reject: (error: unknown) => void
}

/**
 * Waits for jobs to finish, for `JobHandle.result()`. Store notes say which jobs finished (in this
 * process) or that something changed (in another). On a change it re-reads the jobs it waits for —
 * or, when it waits for many, reads the event log since the last change instead, so the work is
 * proportional to what happened rather than to how many jobs are awaited. A slow poll backs the
 * notes up, so a missed note costs latency, never a hang.
 */
export class JobWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private unlisten: (() => void) | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private checkAll = false
  private readonly toCheck = new Set<string>()
  private checking = false
  /** Event-log cursor while tailing; undefined while few jobs are awaited. */
  private cursor: number | undefined
  private tailing: Promise<void> | undefined
  private tailAgain = false

  constructor(
    private readonly store: Store,
    private readonly pollMs: number,
    private readonly logger: Logger,
  ) {}

  /** Resolves with the job once it is `completed`, `failed` or `cancelled`. */
  wait(id: string, signal: AbortSignal | undefined): Promise<JobInfo> {
    return new Promise<JobInfo>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(id, signal))
      const onAbort = (): void => {
        this.remove(id, waiter)
        reject(abortError(id, signal!))
      }
      const waiter: Waiter = {
        resolve: (job) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(job)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      let set = this.waiters.get(id)
      if (set === undefined) this.waiters.set(id, (set = new Set()))
      set.add(waiter)
      this.subscribe()
      // The job may have finished before we subscribed.
      this.check([id])
    })
  }

  /** Rejects every waiter: the instance is closing. */
  close(): void {
    const error = new OffloadError('CLOSED', 'Offload was closed while waiting for a job result')
    for (const set of this.waiters.values()) for (const waiter of set) waiter.reject(error)
    this.waiters.clear()
    this.unsubscribe()
  }

  private remove(id: string, waiter: Waiter): void {
    const set = this.waiters.get(id)
    set?.delete(waiter)
    if (set?.size === 0) this.waiters.delete(id)
    if (this.waiters.size === 0) this.unsubscribe()
  }

  private subscribe(): void {
    if (this.unlisten !== undefined) return
    this.unlisten = this.store.listen(this.onNote)
    this.pollTimer = setInterval(() => this.check(undefined), this.pollMs)
  }

  private unsubscribe(): void {
    this.unlisten?.()
    this.unlisten = undefined
    this.cursor = undefined
    clearInterval(this.pollTimer)
    this.pollTimer = undefined
  }

  private readonly onNote = (note: StoreNote): void => {
    if (note.kind === 'finished') {
      const ids = note.ids.filter((id) => this.waiters.has(id))
      if (ids.length > 0) this.check(ids)
    } else if (note.kind === 'changed') {
      if (this.waiters.size > TAIL_ABOVE) this.tail()
      else {
        this.cursor = undefined
        this.check(undefined)
      }
    }
  }

  /** Reads the events since the last tail and re-reads the awaited jobs that reached a final state. */
  private tail(): void {
    if (this.tailing !== undefined) {
      this.tailAgain = true
      return
    }
    this.tailing = this.readTail()
      .catch((error: unknown) => {
        if (!isOffloadError(error, 'CLOSED')) this.logger.warn('reading the event log failed; the next poll tries again', { error })
      })
      .finally(() => {
        this.tailing = undefined
        if (this.tailAgain && this.waiters.size > TAIL_ABOVE) {
          this.tailAgain = false
          this.tail()
        }
      })
  }

  private async readTail(): Promise<void> {
    if (this.cursor === undefined) {
      // Start the cursor first and then re-read everything once: a job that finished before the
      // cursor is caught by the read, one that finishes after it by the next tail.
      this.cursor = await this.store.eventLastSeq()
      this.check(undefined)
      return
    }
    for (;;) {
      const events = await this.store.eventList({ after: this.cursor, limit: TAIL_BATCH })
      if (events.length === 0) return
      this.cursor = events[events.length - 1]!.seq
      const finished = events.filter((event) => isFinished(event.state) && this.waiters.has(event.jobId)).map((event) => event.jobId)
      if (finished.length > 0) this.check(finished)
      if (events.length < TAIL_BATCH) return
    }
  }

  /** Re-reads `ids` (or every watched job): one read at a time, requests in between coalesce. */
  private check(ids: readonly string[] | undefined): void {
    if (ids === undefined) this.checkAll = true
    else for (const id of ids) this.toCheck.add(id)
    if (!this.checking) void this.drain()
  }

  private async drain(): Promise<void> {
    this.checking = true
    try {
      while (this.checkAll || this.toCheck.size > 0) {
        const ids = this.checkAll ? [...this.waiters.keys()] : [...this.toCheck]
        this.checkAll = false
        this.toCheck.clear()
        for (const id of ids) {
          if (!this.waiters.has(id)) continue
          const job = await this.store.jobGet({ id })
          const set = this.waiters.get(id)
          if (set === undefined) continue
          if (job === undefined) {
            this.waiters.delete(id)
            const error = new OffloadError('JOB_NOT_FOUND', `no job with id ${id}`, { id })
            for (const waiter of set) waiter.reject(error)
          } else if (isFinished(job.state)) {
            this.waiters.delete(id)
            for (const waiter of set) waiter.resolve(job)
          }
        }
        if (this.waiters.size === 0) this.unsubscribe()
      }
    } catch (error) {
      if (!(isOffloadError(error, 'CLOSED'))) {
        this.logger.warn('checking awaited jobs failed; the next poll tries again', { error })
      }
    } finally {
      this.checking = false
    }
  }
}

/** Above this many awaited jobs, a change is followed through the event log rather than job by job. */
const TAIL_ABOVE = 32
const TAIL_BATCH = 1000

function abortError(id: string, signal: AbortSignal): OffloadError {
  return new OffloadError('ABORTED', `stopped waiting for job ${id}: the signal was aborted`, { id }, { cause: signal.reason })
}
