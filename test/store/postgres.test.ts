import { describe, expect, test } from 'vitest'
import { uuidv7 } from '../../src/ids.js'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import type { JobInsert } from '../../src/store/store.js'
import { dropSchema, PG_URL, schemaName } from '../support/postgres.js'
import { describeStoreConformance } from './conformance.js'

describeStoreConformance({
  name: 'PostgresStore',
  async createDatabase({ migrated = true } = {}) {
    // Each test gets its own schema on the real server, dropped after the test.
    const schema = schemaName('conf')
    const open = (): PostgresStore => new PostgresStore({ url: PG_URL, schema, poolSize: 4 })
    if (migrated) {
      const store = open()
      try {
        await store.migrate()
      } finally {
        await store.close()
      }
    }
    return {
      open: async () => open(),
      destroy: () => dropSchema(schema),
    }
  },
})

// What the shared suite cannot see: how this store spaces out its NOTIFYs under a burst.
describe('PostgresStore wake-ups under a burst of enqueues', () => {
  test('every enqueue of a burst is followed by a ready note another connection hears, the last one included', async () => {
    const schema = schemaName('burst')
    // A long window makes the skipped in-transaction NOTIFYs certain rather than timing-dependent.
    const producer = new PostgresStore({ url: PG_URL, schema, notifyDebounceMs: 300 })
    const consumer = new PostgresStore({ url: PG_URL, schema })
    try {
      await producer.migrate()
      let heard = 0
      const waiters: (() => void)[] = []
      const unlisten = consumer.listen((note) => {
        if (note.kind !== 'ready') return
        heard++
        for (const wake of waiters.splice(0)) wake()
      })
      const nextReady = (): Promise<void> => new Promise((resolve) => waiters.push(resolve))
      // The first write is heard once the consumer's LISTEN is up (its first note says "changed").
      while (heard === 0) {
        const heardOne = nextReady()
        await producer.jobInsertMany({ jobs: [jobAt()] })
        await Promise.race([heardOne, new Promise((resolve) => setTimeout(resolve, 100))])
      }
      for (let i = 0; i < 5; i++) {
        const before = heard
        const heardAfter = nextReady()
        await producer.jobInsertMany({ jobs: [jobAt()] })
        // Notified inside the transaction, or at the end of the window: either way after this commit.
        await heardAfter
        expect(heard).toBeGreaterThan(before)
      }
      unlisten()
    } finally {
      await producer.close()
      await consumer.close()
      await dropSchema(schema)
    }
  })
})

function jobAt(): JobInsert {
  return { id: uuidv7(), task: 't', queue: 'q', payload: '1', priority: 0, maxAttempts: 1 }
}
