import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { uuidv7 } from '../../src/ids.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { tempDb } from '../support/temp.js'
import { describeStoreConformance } from './conformance.js'

describeStoreConformance({
  name: 'SqliteStore',
  async createDatabase({ migrated = true } = {}) {
    // Each test gets its own file; temp.ts removes its folder after the test.
    const path = tempDb()
    if (migrated) {
      const store = new SqliteStore({ path })
      try {
        await store.migrate()
      } finally {
        await store.close()
      }
    }
    return {
      open: async () => new SqliteStore({ path }),
      destroy: async () => {},
    }
  },
})

// What the shared suite cannot reach without knowing the store: another process holding SQLite's
// write lock. A raw connection in a transaction stands in for that process.
describe("SqliteStore under another connection's write lock", () => {
  test('close waits for a write that is waiting on the lock, then writes it', async () => {
    const path = tempDb()
    const store = new SqliteStore({ path })
    await store.migrate()
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE')
    const id = uuidv7()
    const pending = store.jobInsertMany({ jobs: [{ id, task: 't', queue: 'q', payload: '1', priority: 0, maxAttempts: 1 }] })
    // close() tries the write at once, meets the lock and keeps retrying on its timer.
    const closed = store.close()
    other.exec('COMMIT')
    other.close()
    await closed
    expect(await pending).toEqual([{ id, state: 'queued', existing: false }])
    const reader = new SqliteStore({ path })
    expect((await reader.jobGet({ id }))?.state).toBe('queued')
    await reader.close()
  })
})
