import type { Database, Transaction } from 'better-sqlite3'
import { OffloadError, isOffloadError } from '../../errors.js'
import type { StoreNote } from '../store.js'

/** One write operation: runs inside the shared transaction and may add notes for after commit. */
export type WriteOp<T> = (notes: StoreNote[]) => T

/** Work of the whole batch, inside its transaction: `begin` before its first op, `end` after its last. */
export interface BatchHooks {
  begin(): void
  end(): void
}

interface Pending {
  run: WriteOp<unknown>
  /** Its commit must be on disk before the caller hears of it (see `submit`). */
  durable: boolean
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  deadline: number
  value?: unknown
  error?: unknown
  failed: boolean
}

/**
 * Group commit: every write submitted during one turn of the event loop runs in one IMMEDIATE
 * transaction and shares one fsync. Concurrent enqueues, claims and completions from the whole
 * process therefore cost one durable commit per turn rather than one each, and each caller's
 * promise resolves only after that commit — the acknowledgement is durable.
 *
 * Each op runs in its own savepoint, so an op that throws (a job not found, a bad state, a full
 * queue) is rolled back and rejected alone while the rest of the batch commits.
 *
 * A batch of nothing but claims commits without its fsync: a claim acknowledges nothing to anyone.
 * Its WAL frames reach the disk with the next durable commit — the claimed job's outcome, at the
 * latest, since the WAL is synced whole — so an outcome is never on disk without its claim. A
 * power cut before then only takes the claim back: the job is queued again, as it was, and runs
 * again, which at-least-once allows. (A process crash loses nothing: the frames are in the OS.)
 *
 * When another process holds the write lock past SQLite's short busy wait, the batch is retried
 * on a timer rather than by blocking the event loop, until `busyTimeoutMs` has passed for the
 * oldest op; only then does a caller see `STORE_BUSY`.
 */
export class GroupCommit {
  private pending: Pending[] = []
  private scheduled = false
  private retryTimer: NodeJS.Timeout | undefined
  private retryDelay = RETRY_MIN_MS
  private closed = false
  /** Callers of `close()` waiting for the pending writes. */
  private readonly drained: (() => void)[] = []
  private readonly runBatch: Transaction<(ops: Pending[], notes: StoreNote[]) => void>

  constructor(
    private readonly db: Database,
    private readonly busyTimeoutMs: number,
    private readonly onNotes: (notes: StoreNote[]) => void,
    hooks?: BatchHooks,
  ) {
    const inSavepoint = db.transaction((op: Pending, notes: StoreNote[]) => op.run(notes))
    this.runBatch = db.transaction((ops: Pending[], notes: StoreNote[]) => {
      hooks?.begin()
      for (const op of ops) {
        const opNotes: StoreNote[] = []
        try {
          op.value = inSavepoint(op, opNotes)
          for (const note of opNotes) notes.push(note)
        } catch (error) {
          if (isBusy(error)) throw error
          op.failed = true
          op.error = error
        }
      }
      hooks?.end()
    })
  }

  /**
   * Runs `run` in this turn's transaction. `durable: false` (claims) lets a batch of such ops
   * alone commit without an fsync; any other op in the batch makes the whole commit durable.
   */
  submit<T>(run: WriteOp<T>, options: { durable: boolean } = { durable: true }): Promise<T> {
    if (this.closed) return Promise.reject(closedError())
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        run,
        durable: options.durable,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: Date.now() + this.busyTimeoutMs,
        failed: false,
      })
      if (!this.scheduled && this.retryTimer === undefined) {
        this.scheduled = true
        setImmediate(this.flush)
      }
    })
  }

  /**
   * Refuses new writes, then resolves once every write already submitted has committed or failed.
   * A busy database keeps being retried on the timer until each op's own deadline, as before close:
   * a worker shutting down while another process holds the lock still gets its last completions
   * and releases written, rather than dropping them with `CLOSED`.
   */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      this.flush()
    }
    if (this.idle()) return Promise.resolve()
    return new Promise((resolve) => this.drained.push(resolve))
  }

  private idle(): boolean {
    return this.pending.length === 0 && this.retryTimer === undefined
  }

  private settleClose(): void {
    if (!this.closed || !this.idle()) return
    for (const resolve of this.drained.splice(0)) resolve()
  }

  private readonly flush = (): void => {
    // close() may flush while a turn's flush or a retry is still scheduled; whichever runs first
    // takes the pending ops, and at most one retry timer is ever armed.
    this.scheduled = false
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.pending.length === 0) return this.settleClose()
    const ops = this.pending
    this.pending = []
    const notes: StoreNote[] = []
    const relaxed = !ops.some((op) => op.durable)
    try {
      // SQLite applies this pragma when the statement is compiled, so it cannot be a cached one.
      if (relaxed) this.db.exec('PRAGMA synchronous = NORMAL')
      try {
        this.runBatch.immediate(ops, notes)
      } finally {
        if (relaxed) this.db.exec('PRAGMA synchronous = FULL')
      }
    } catch (error) {
      for (const op of ops) {
        op.failed = false
        op.error = undefined
      }
      if (isBusy(error)) {
        this.retryLater(ops)
        return this.settleClose()
      }
      // The commit itself failed (disk full, I/O error): nothing of the batch was written.
      const failure = sqliteError(error)
      for (const op of ops) op.reject(failure)
      return this.settleClose()
    }
    this.retryDelay = RETRY_MIN_MS
    for (const op of ops) {
      if (op.failed) op.reject(op.error)
      else op.resolve(op.value)
    }
    if (notes.length > 0) this.onNotes(notes)
    this.settleClose()
  }

  private retryLater(ops: Pending[]): void {
    const now = Date.now()
    const alive: Pending[] = []
    for (const op of ops) {
      if (op.deadline <= now) {
        op.reject(
          new OffloadError('STORE_BUSY', `the SQLite database stayed locked by another process for ${this.busyTimeoutMs} ms`, {
            busyTimeoutMs: this.busyTimeoutMs,
          }),
        )
      } else alive.push(op)
    }
    this.pending = alive.concat(this.pending)
    // Keep retrying while closing: close() waits for these (see close()).
    if (this.pending.length === 0) return
    this.retryTimer = setTimeout(this.flush, this.retryDelay)
    this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2)
  }
}

const RETRY_MIN_MS = 2
const RETRY_MAX_MS = 100

export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

function closedError(): OffloadError {
  return new OffloadError('CLOSED', 'the store is closed')
}

/**
 * The one place SQLite's errors become Offload's: callers see the same codes from every store.
 * OffloadErrors raised by the store's own checks pass through unchanged.
 */
export function sqliteError(error: unknown, path?: string): unknown {
  if (isOffloadError(error)) return error
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error
  if (code.startsWith('SQLITE_CONSTRAINT') && /offload_jobs\.id/.test((error as Error).message)) {
    return new OffloadError('JOB_EXISTS', 'a job with that id already exists', { sqlite: code }, { cause: error })
  }
  const where = path === undefined ? 'the SQLite database' : `the SQLite database at ${path}`
  if (isBusy(error)) return new OffloadError('STORE_BUSY', `${where} is locked by another process`, { sqlite: code }, { cause: error })
  const reason =
    code.startsWith('SQLITE_CANTOPEN') ? 'cannot be opened'
    : code.startsWith('SQLITE_READONLY') ? 'is read-only'
    : code.startsWith('SQLITE_FULL') ? 'cannot grow: the disk is full'
    : code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' ? 'is not a valid Offload database or is corrupt'
    : `failed (${(error as Error).message})`
  return new OffloadError('STORE_UNAVAILABLE', `${where} ${reason}`, { sqlite: code }, { cause: error })
}
