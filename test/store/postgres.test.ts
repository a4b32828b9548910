import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
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
