/**
 * How a SQLite store hears other processes' commits: an inotify watch on the `-wal` file's folder
 * wakes a listener at once, the `data_version` poll stays as the safety net, and neither outlives
 * the store nor keeps a process alive. Real files and real processes; the poll is set to an hour
 * where a test must prove that the watch, not the poll, woke the listener.
 */
import Database from 'better-sqlite3'
import { readdirSync, readFileSync, readlinkSync, renameSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { uuidv7 } from '../../src/ids.js'
import { ChangeWatcher } from '../../src/store/sqlite/change-watcher.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { startAgent, type Agent } from '../support/child.js'
import { tempDb, tempDir } from '../support/temp.js'

const WRITER = 'test/store/fixtures/sqlite-writer.ts'
/** A poll interval that never comes round within a test. */
const NEVER = 3_600_000
/** Far below NEVER, far above any real wake-up: a slow machine slows these tests, never fails them. */
const WAKE_TIMEOUT_MS = 20_000

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A database with the table the writer fixture fills, in WAL mode unless told otherwise. */
function newDatabase(journal: 'wal' | 'delete' = 'wal'): string {
  const path = tempDb()
  const db = new Database(path)
  db.pragma(`journal_mode = ${journal}`)
  db.exec('CREATE TABLE wake_probe (at INTEGER NOT NULL)')
  db.close()
  return path
}

async function startWriter(path: string, journal: 'wal' | 'delete' = 'wal'): Promise<Agent> {
  const writer = startAgent(WRITER, { path, mode: 'write', journal })
  await writer.waitForType('ready')
  return writer
}

/** Commits one row in the writer's process and waits until it says so. */
async function commitIn(writer: Agent): Promise<void> {
  const before = writer.messages.filter((message) => message.type === 'committed').length
  writer.send('write')
  await writer.waitFor(() => writer.messages.filter((message) => message.type === 'committed').length > before, 'a commit')
}

/** Counts the change notes a listener gets, and waits for the next one. */
class Changes {
  count = 0
  private waiting: (() => void) | undefined

  readonly listener = (note: { kind: string }): void => {
    if (note.kind !== 'changed') return
    this.count++
    this.waiting?.()
  }

  next(what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no change note for ${what} in ${WAKE_TIMEOUT_MS} ms`)), WAKE_TIMEOUT_MS)
      this.waiting = () => {
        clearTimeout(timer)
        this.waiting = undefined
        resolve()
      }
    })
  }
}

/** A store on `path` whose poll never comes round, listened to: only its watch can wake it. */
function listenWithoutPoll(path: string): { store: SqliteStore; changes: Changes } {
  const store = new SqliteStore({ path, changePollMs: NEVER })
  cleanups.push(() => store.close())
  const changes = new Changes()
  cleanups.push(store.listen(changes.listener))
  return { store, changes }
}

/** Commits in the writer's process and waits for the change note it must cause. */
async function commitAndHear(writer: Agent, changes: Changes, what: string): Promise<void> {
  const woken = changes.next(what)
  await commitIn(writer)
  await woken
}

/** The inotify watches this process holds, from /proc: fs.watch handles do not show elsewhere. */
function inotifyWatches(): number {
  let count = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue // the descriptor readdir itself used, closed by now
    }
    if (target !== 'anon_inode:inotify') continue
    count += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('inotify wd:')).length
  }
  return count
}

// Linux only: the watch is inotify, and the tests count its watches in /proc. Elsewhere the store
// polls as before, which the conformance and process suites already cover.
describe.runIf(process.platform === 'linux')('SQLite wake-ups across processes', () => {
  test("another process's commit wakes a listener with no poll to fall back on; the store's own commits do not", async () => {
    const path = newDatabase()
    const { store, changes } = listenWithoutPoll(path)
    await store.migrate()
    const writer = await startWriter(path)

    for (let round = 1; round <= 3; round++) {
      // Ours first: it writes the -wal file too, and must not be mistaken for another's commit.
      await store.jobInsertMany({ jobs: [{ id: uuidv7(), task: 't', queue: 'q', payload: '{}', priority: 0, maxAttempts: 1 }] })
      await commitAndHear(writer, changes, `commit ${round}`)
      expect(changes.count).toBe(round)
    }
  })

  test('keeps hearing other processes after the -wal file is renamed away and back', async () => {
    const path = newDatabase()
    const { changes } = listenWithoutPoll(path)
    const writer = await startWriter(path)

    await commitAndHear(writer, changes, 'the first commit')
    // Leaves the path and comes back (same file, so both connections stay consistent): a watch
    // on the file's name must still report its writes afterwards.
    renameSync(`${path}-wal`, `${path}-wal.away`)
    renameSync(`${path}-wal.away`, `${path}-wal`)
    await commitAndHear(writer, changes, 'a commit after the rename')
    expect(changes.count).toBe(2)
  })

  test('a database opened through a symbolic link is heard where its -wal file really is', async () => {
    const path = newDatabase()
    // SQLite follows the link and keeps the -wal file beside the real database, not the link.
    const link = join(tempDir(), 'linked.db')
    symlinkSync(path, link)
    const { changes } = listenWithoutPoll(link)
    await commitAndHear(await startWriter(path), changes, 'a commit through the real path')
  })

  test('with no watch to set (a rollback-journal database), the poll alone still wakes the listener', async () => {
    const path = newDatabase('delete')
    const db = new Database(path)
    cleanups.push(() => db.close())
    const changes = new Changes()
    const before = inotifyWatches()
    const watcher = new ChangeWatcher(db, 20, () => changes.listener({ kind: 'changed' }))
    watcher.start()
    cleanups.push(() => watcher.stop())
    expect(inotifyWatches()).toBe(before)
    await commitAndHear(await startWriter(path, 'delete'), changes, 'a commit in rollback mode')
  })

  test('the watch lives while someone listens and goes with the last listener and with close', async () => {
    const path = newDatabase()
    const store = new SqliteStore({ path, changePollMs: NEVER })
    cleanups.push(() => store.close())
    const before = inotifyWatches()
    const stopFirst = store.listen(() => {})
    expect(inotifyWatches()).toBe(before + 1)
    const stopSecond = store.listen(() => {})
    expect(inotifyWatches()).toBe(before + 1)
    stopFirst()
    stopSecond()
    expect(inotifyWatches()).toBe(before)
    store.listen(() => {})
    expect(inotifyWatches()).toBe(before + 1)
    await store.close()
    expect(inotifyWatches()).toBe(before)

    // An in-memory store has no file and no other process to hear.
    const memory = new SqliteStore({ path: ':memory:' })
    cleanups.push(() => memory.close())
    memory.listen(() => {})
    expect(inotifyWatches()).toBe(before)
  })

  test('a store left listening does not keep its process alive', async () => {
    const path = newDatabase()
    const child = startAgent(WRITER, { path, mode: 'listen-and-leave' })
    await child.waitForType('listening')
    // It never closes the store: it must end by itself once its script has run.
    const ended = await Promise.race([
      child.exited,
      new Promise<'still running'>((resolve) => {
        const timer = setTimeout(() => resolve('still running'), WAKE_TIMEOUT_MS)
        void child.exited.then(() => clearTimeout(timer))
      }),
    ])
    expect(ended).toEqual({ code: 0, signal: null })
  })
})
