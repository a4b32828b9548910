import type { Duration } from './duration.js'
import { OffloadError } from './errors.js'
import type { JobInfo, JobState } from './job.js'

/** The operations a handle delegates to its Offload instance. */
export interface JobOperations {
  getJob(id: string): Promise<JobInfo | undefined>
  cancelJob(id: string): Promise<JobInfo>
  retryJob(id: string): Promise<JobInfo>
  /** Resolves with the job once it finished; rejects with `TIMEOUT` (its timeout named `timeoutName` in errors) or `ABORTED`. */
  waitForJob(id: string, options: ResultOptions, timeoutName: string): Promise<JobInfo>
}

export interface ResultOptions {
  /** Give up (rejecting with `TIMEOUT`) after this long. @defaultValue wait indefinitely */
  timeout?: Duration
  /** Give up (rejecting with `ABORTED`) when this signal aborts. */
  signal?: AbortSignal
}

/** A reference to one job, typed by its task's payload `P` and result `R`. */
export class JobHandle<P = unknown, R = unknown> {
  constructor(
    private readonly ops: JobOperations,
    readonly id: string,
    /** The job's state when this handle was made (after enqueue: `queued` or `scheduled`, or the holder's state). */
    readonly state: JobState,
    /** True when enqueue found the idempotency key held and returned that job instead of creating one. */
    readonly existing: boolean = false,
  ) {}

  /**
   * Waits for the job to finish. Resolves with its result when it completes; rejects with
   * `JOB_FAILED` (the last error in `details.error`) or `JOB_CANCELLED` when it ends otherwise.
   */
  async result(options: ResultOptions = {}): Promise<R> {
    return outcome(await this.ops.waitForJob(this.id, options, 'result() timeout')) as R
  }

  /** The job as stored now. */
  async get(): Promise<JobInfo<P, R>> {
    const job = await this.ops.getJob(this.id)
    if (job === undefined) throw new OffloadError('JOB_NOT_FOUND', `no job with id ${this.id}`, { id: this.id })
    return job as JobInfo<P, R>
  }

  cancel(): Promise<JobInfo<P, R>> {
    return this.ops.cancelJob(this.id) as Promise<JobInfo<P, R>>
  }

  retry(): Promise<JobInfo<P, R>> {
    return this.ops.retryJob(this.id) as Promise<JobInfo<P, R>>
  }
}

/** A finished job's result, or the error `result()` rejects with. */
function outcome(job: JobInfo): unknown {
  if (job.state === 'completed') return job.result
  if (job.state === 'cancelled') {
    throw new OffloadError('JOB_CANCELLED', `job ${job.id} (${job.task}) was cancelled`, { id: job.id, task: job.task })
  }
  const last = job.errors[job.errors.length - 1]
  throw new OffloadError(
    'JOB_FAILED',
    `job ${job.id} (${job.task}) failed after ${job.attempt} attempt(s)` + (last === undefined ? '' : `: ${last.message}`),
    { id: job.id, task: job.task, error: last ?? null },
  )
}
