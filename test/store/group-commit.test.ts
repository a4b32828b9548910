import Database from 'better-sqlite3'
import { afterEach, expect, test } from 'vitest'
import { GroupCommit } from '../../src/store/sqlite/group-commit.js'
import { tempDb } from '../support/temp.js'

let db: Database.Database | undefined

afterEach(() => {
  db?.close()
  db = undefined
})

function open(): { db: Database.Database; commits: GroupCommit; synchronous: () => number } {
  db = new Database(tempDb())
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  const handle = db
  // Compiled afresh each time: SQLite evaluates this pragma when the statement is prepared.
  return { db, commits: new GroupCommit(db, 1000, () => {}), synchronous: () => handle.pragma('synchronous', { simple: true }) as number }
}

// SQLite's synchronous levels: 1 NORMAL (no fsync at a WAL commit), 2 FULL.
test('a batch of claims alone commits without its fsync; the connection is back to FULL after', async () => {
  const { commits, synchronous } = open()
  const seen = await Promise.all([commits.submit(synchronous, { durable: false }), commits.submit(synchronous, { durable: false })])
  expect(seen).toEqual([1, 1])
  expect(synchronous()).toBe(2)
})

test('one durable write in the batch makes the whole commit durable', async () => {
  const { commits, synchronous } = open()
  const seen = await Promise.all([commits.submit(synchronous, { durable: false }), commits.submit(synchronous)])
  expect(seen).toEqual([2, 2])
  expect(await commits.submit(synchronous)).toBe(2)
})

test('a failed batch of claims still leaves the connection at FULL', async () => {
  const { commits, synchronous } = open()
  await expect(
    commits.submit(() => {
      throw new Error('claim failed')
    }, { durable: false }),
  ).rejects.toThrow('claim failed')
  expect(synchronous()).toBe(2)
})
