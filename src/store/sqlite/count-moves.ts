import { JOB_STATES, type JobState } from '../../job.js'

/**
 * What one write does to the job counts per queue and state (`offload_queue_counts`): jobs
 * created, moved from one state to another, deleted. Added up in memory while the write runs, then
 * written in one upsert per queue and state it changed, in the write's own transaction.
 *
 * Counted by the store's code rather than by triggers on the jobs table: a row trigger costs about
 * a microsecond per job even when it does nothing, 15% of a bulk enqueue and 8–10% of a drain
 * (bench/experiments/counts-cost.ts and sqlite-ab.ts), where a batch's one upsert costs nothing
 * measurable. The price is that every statement that creates, moves or deletes jobs must record
 * its moves here; the test harness compares the counts with a recount after every conformance test.
 */
export class CountMoves {
  /** Net change per queue, indexed like `JOB_STATES`. */
  private readonly changes = new Map<string, number[]>()

  /** `n` jobs of `queue` leave `from` (undefined: they are new) for `to` (undefined: they are deleted). */
  move(queue: string, from: JobState | undefined, to: JobState | undefined, n = 1): void {
    if (from === to || n === 0) return
    let changes = this.changes.get(queue)
    if (changes === undefined) this.changes.set(queue, (changes = JOB_STATES.map(() => 0)))
    if (from !== undefined) changes[STATE_INDEX[from]]! -= n
    if (to !== undefined) changes[STATE_INDEX[to]]! += n
  }

  /** Every queue and state whose count changes, with the change; none that nets to 0. */
  *entries(): IterableIterator<[queue: string, state: JobState, change: number]> {
    for (const [queue, changes] of this.changes) {
      for (let i = 0; i < changes.length; i++) if (changes[i] !== 0) yield [queue, JOB_STATES[i]!, changes[i]!]
    }
  }
}

const STATE_INDEX = Object.fromEntries(JOB_STATES.map((state, i) => [state, i])) as Record<JobState, number>
