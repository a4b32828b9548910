import type { Database, Statement } from 'better-sqlite3'

/**
 * Notices other processes' commits to the same database file. SQLite has no LISTEN/NOTIFY, but
 * `PRAGMA data_version` changes whenever another connection commits; reading it only touches the
 * shared-memory WAL index, a few microseconds, so polling it every couple of milliseconds gives
 * cross-process wake-ups in milliseconds for a negligible cost. Our own commits do not change it,
 * and in-process writers wake listeners directly.
 *
 * The timer runs only while someone listens and does not keep the process alive.
 */
export class ChangeWatcher {
  private readonly version: Statement
  private last: number
  private timer: NodeJS.Timeout | undefined

  constructor(
    db: Database,
    private readonly intervalMs: number,
    private readonly onChange: () => void,
  ) {
    this.version = db.prepare('PRAGMA data_version').pluck()
    this.last = this.read()
  }

  start(): void {
    if (this.timer !== undefined) return
    this.last = this.read()
    this.timer = setInterval(this.poll, this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private readonly poll = (): void => {
    let current: number
    try {
      current = this.read()
    } catch {
      return // a busy or closing database: the next tick tries again
    }
    if (current !== this.last) {
      this.last = current
      this.onChange()
    }
  }

  private read(): number {
    return this.version.get() as number
  }
}
