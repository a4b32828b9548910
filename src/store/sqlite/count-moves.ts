import { JOB_STATES, type JobState } from '../../job.js'

/**
 * What writes do to the job counts per queue and state (`offload_queue_counts`): jobs created,
 * moved from one state to another, deleted. Each write op records its moves while it runs; those of
 * the ops that succeed are added up for the whole group commit and written at its end, one upsert
 * per queue and state whose count changed, in the same transaction: a turn of fifty single-job
 * enqueues pays for one upsert, not fifty.
 *
 * Counted by the store's code rather than by triggers on the jobs table: a row trigger that counts
 * costs about a microsecond per job (a third of that even with an empty body), which took 15% off
 * a bulk enqueue and 7–10% off a drain end to end (bench/experiments/counts-cost.ts; sqlite-ab.ts
 * against a copy with triggers), where an upsert per queue and state per write costs about 2 µs per
 * batch. The price: every statement that creates, moves or deletes jobs must record its moves
 * here. The SQLite test harness compares the counts with a recount after every conformance test,
 * so a path that forgets fails the tests that take it.
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

  /** The net change to `queue`'s count of `state`. */
  get(queue: string, state: JobState): number {
    return this.changes.get(queue)?.[STATE_INDEX[state]] ?? 0
  }

  /** Adds `other`'s moves to these. */
  merge(other: CountMoves): void {
    for (const [queue, changes] of other.changes) {
      const mine = this.changes.get(queue)
      if (mine === undefined) this.changes.set(queue, [...changes])
      else for (let i = 0; i < changes.length; i++) mine[i]! += changes[i]!
    }
  }

  /** Every queue and state whose count changes, with the change; none that nets to 0. */
  *entries(): IterableIterator<[queue: string, state: JobState, change: number]> {
    for (const [queue, changes] of this.changes) {
      for (let i = 0; i < changes.length; i++) if (changes[i] !== 0) yield [queue, JOB_STATES[i]!, changes[i]!]
    }
  }
}

const STATE_INDEX = Object.fromEntries(JOB_STATES.map((state, i) => [state, i])) as Record<JobState, number>
