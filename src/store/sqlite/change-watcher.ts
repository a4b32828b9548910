import { realpathSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Database, Statement } from 'better-sqlite3'

/**
 * While the file watch is healthy, the poll is only a safety net for events inotify cannot give:
 * a queue overflow while the event loop was blocked, a commit whose fsync outlasted the follow-up
 * below. 20 wake-ups a second cost an idle worker next to nothing (at 2 ms, 500 do: ~3% of a core).
 */
const SAFETY_POLL_MS = 50
/** After a write to the WAL file by another connection, check without pause this long… */
const EAGER_MS = 5
/** …then on timers, each after a quarter of the time already waited (at most FOLLOW_GAP_MS)… */
const FOLLOW_GAP_MS = 8
/** …until this long after the last write. */
const SETTLE_MS = 50
/** While checking without pause on an otherwise idle event loop, sleep this long between checks. */
const EAGER_NAP_MS = 0.1
/** A turn of the event loop quicker than this means nothing else is waiting to run. */
const IDLE_TURN_MS = 0.05
/**
 * A commit the poll finds with no WAL write heard for this long means the watch does not hear
 * writers. Longer than any healthy fsync between a write and its commit, so a slow disk is not
 * mistaken for a deaf watch.
 */
const DEAF_AFTER_MS = 1000

const nap = new Int32Array(new SharedArrayBuffer(4))

/**
 * Notices other processes' commits to the same database file. SQLite has no LISTEN/NOTIFY, but
 * `PRAGMA data_version` changes whenever another connection commits; reading it only touches the
 * shared-memory WAL index, a few microseconds. Our own commits do not change it, and in-process
 * writers wake listeners directly.
 *
 * On Linux, an inotify watch (`fs.watch`) on the database's folder tells when any connection writes
 * the `-wal` file, within microseconds: every WAL-mode commit does. The folder is watched rather
 * than the file, so the watch does not depend on the file existing, and survives it being deleted
 * and made again. A write is not yet a commit: the writer appends its frames, fsyncs, and only then
 * publishes the commit in the WAL index — on this project's machine 0.4 ms later at the median,
 * several ms under load — so a check at the event misses it (96 times in 100 in a probe). So an
 * event starts a run of checks: without pause for `EAGER_MS` or until one sees a commit, then on
 * timers that back off, until `SETTLE_MS` has passed since the last write. Writes we made
 * ourselves (this connection's `total_changes()` moved) are already visible and get only the
 * timers, spaced out while our own commits go on, so a busy worker does not spin after its own
 * commits; the timers remain because another process's commit may be in flight behind ours.
 *
 * The `data_version` poll stays as the safety net, every `SAFETY_POLL_MS` while the watch is
 * healthy and every `intervalMs` where there is no watch (in-memory databases have no other
 * process to hear, rollback-journal mode, other platforms, a watch that failed). A change that the
 * poll finds with no WAL write heard for a second means the watch misses writes (a filesystem
 * whose writers inotify does not hear): from then on the poll runs every `intervalMs`.
 *
 * All of it runs only while someone listens. Timers and the watch do not keep the process alive;
 * the checks without pause do, for EAGER_MS at most.
 */
export class ChangeWatcher {
  private readonly version: Statement
  private readonly ownChanges: Statement
  /** The folder and file name of the WAL file, where a watch may tell us of commits. */
  private readonly wal: { dir: string; name: string } | undefined = undefined
  private last: number
  private lastOwn: number
  private running = false
  private pollTimer: NodeJS.Timeout | undefined
  private watcher: FSWatcher | undefined
  /** The watch once missed a commit: poll every `intervalMs` even while it is healthy. */
  private watchMisses = false
  /** `performance.now()` of the last WAL write we heard of. */
  private lastWriteAt = -Infinity
  /** When the current run of follow-up checks began (or another connection last wrote). */
  private followSince = 0
  /** Until when checks follow each other without pause. */
  private eagerUntil = -Infinity
  /** The next check, at most one pending. */
  private followImmediate: NodeJS.Immediate | undefined
  private followTimer: NodeJS.Timeout | undefined
  private followTurnAt = 0
  /** Whether the watch missed the commit the poll just found, decided after this turn's events. */
  private verdict: NodeJS.Immediate | undefined

  constructor(
    db: Database,
    private readonly intervalMs: number,
    private readonly onChange: () => void,
  ) {
    this.version = db.prepare('PRAGMA data_version').pluck()
    this.ownChanges = db.prepare('SELECT total_changes()').pluck()
    // Reading data_version opens the WAL file, and this open connection keeps it in place from
    // now on: SQLite deletes it only when the last connection closes.
    this.last = this.read()
    this.lastOwn = this.ownChanges.get() as number
    const walMode = !db.memory && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal'
    if (walMode && process.platform === 'linux') {
      // SQLite puts the -wal file beside the database's real path, behind any symbolic link.
      const file = realPath(db.name)
      this.wal = { dir: dirname(file), name: `${basename(file)}-wal` }
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    // The watch first, then the baseline: a commit in between is then seen by one or the other.
    this.arm()
    this.last = this.read()
    this.lastOwn = this.ownChanges.get() as number
    this.schedulePoll()
  }

  stop(): void {
    this.running = false
    this.disarm()
    this.cancelFollow()
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    this.pollTimer = undefined
  }

  private arm(): void {
    if (this.wal === undefined || this.watchMisses) return
    const { dir, name } = this.wal
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Other files in the folder (the database itself at checkpoints, unrelated files) are not
        // commits. Node may not know the name; then it might be ours.
        if (filename === null || filename === name) this.onWalWrite()
      })
    } catch {
      return // no watch (no inotify instances or watches left, folder gone): the poll alone
    }
    this.watcher.on('error', () => {
      // The folder went away or the watch broke: the poll alone, at its full rate.
      this.disarm()
      if (this.running) this.schedulePoll()
    })
  }

  private disarm(): void {
    this.watcher?.close()
    this.watcher = undefined
  }

  private schedulePoll(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    this.pollTimer = setInterval(this.poll, this.watcher === undefined || this.watchMisses ? this.intervalMs : Math.max(this.intervalMs, SAFETY_POLL_MS))
    this.pollTimer.unref()
  }

  private readonly poll = (): void => {
    const heard = this.lastWriteAt
    if (!this.check() || this.watcher === undefined || this.watchMisses) return
    // A commit writes the WAL first. If we heard of no write for DEAF_AFTER_MS, the watch missed
    // it — or the loop was blocked and the event still waits, since timers run before the loop
    // reads events: the verdict waits for the events this turn reads.
    if (performance.now() - heard <= DEAF_AFTER_MS) return
    this.verdict = setImmediate(() => {
      this.verdict = undefined
      if (!this.running || this.lastWriteAt !== heard) return
      this.watchMisses = true
      this.schedulePoll()
    })
  }

  private onWalWrite(): void {
    if (!this.running) return
    const now = performance.now()
    this.lastWriteAt = now
    if (this.followImmediate !== undefined) return // a check is about to run: it covers this write
    // Our own commit is visible by the time we hear of it (better-sqlite3 commits synchronously on
    // this thread); only another connection's write can be a commit still on its way.
    const own = this.ownChanges.get() as number
    const ours = own !== this.lastOwn
    this.lastOwn = own
    if (!ours) this.eagerUntil = now + EAGER_MS
    if (this.followTimer !== undefined) {
      // The timers already follow up; a run of our own commits (a busy worker) spaces them out.
      if (ours) return
      clearTimeout(this.followTimer)
      this.followTimer = undefined
    }
    this.followSince = now
    this.followSoon()
  }

  private followSoon(): void {
    this.followTurnAt = performance.now()
    // Not unref()ed: an unref()ed immediate lets the loop block in its poll phase until some other
    // event, which would defeat the point. It keeps the process alive for EAGER_MS at most.
    this.followImmediate = setImmediate(this.follow)
  }

  private readonly follow = (): void => {
    this.followImmediate = undefined
    if (!this.running) return
    if (this.check()) this.eagerUntil = -Infinity // seen; a later write starts over
    const now = performance.now()
    if (now < this.eagerUntil) {
      // Node's timers cannot wait less than 1 ms, and the commit usually lands sooner. A loop turn
      // that came straight back had nothing else to do: nap briefly rather than spin a core. A busy
      // loop is not held up: its own work spaces the checks.
      if (now - this.followTurnAt < IDLE_TURN_MS) Atomics.wait(nap, 0, 0, EAGER_NAP_MS)
      this.followSoon()
      return
    }
    if (now - this.lastWriteAt < SETTLE_MS) {
      this.followTimer = setTimeout(this.followLater, Math.min(FOLLOW_GAP_MS, Math.max(1, (now - this.followSince) / 4)))
      this.followTimer.unref()
    }
  }

  private readonly followLater = (): void => {
    this.followTimer = undefined
    this.follow()
  }

  private cancelFollow(): void {
    if (this.verdict !== undefined) clearImmediate(this.verdict)
    this.verdict = undefined
    if (this.followImmediate !== undefined) clearImmediate(this.followImmediate)
    if (this.followTimer !== undefined) clearTimeout(this.followTimer)
    this.followImmediate = undefined
    this.followTimer = undefined
    this.eagerUntil = -Infinity
  }

  /** Reads data_version; calls onChange if it moved. True if it did. */
  private check(): boolean {
    let current: number
    try {
      current = this.read()
    } catch {
      return false // a busy or closing database: the next check tries again
    }
    if (current === this.last) return false
    this.last = current
    this.onChange()
    return true
  }

  private read(): number {
    return this.version.get() as number
  }
}

function realPath(file: string): string {
  try {
    return realpathSync(file)
  } catch {
    return resolve(file) // gone already: the watch will hear nothing, and the poll carries on
  }
}
