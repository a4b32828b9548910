import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { afterEach } from 'vitest'

const made: string[] = []

afterEach(async () => {
  for (const schema of made.splice(0)) await dropSchema(schema)
})

/** The server the PostgreSQL tests use: `OFFLOAD_TEST_PG_URL`, else the local `test` database. */
export const PG_URL = process.env.OFFLOAD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A fresh schema name for one test; nothing creates it until a store migrates. */
export function schemaName(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}

/** Runs one statement on a short-lived connection of its own: set-up and tear-down, not the code under test. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
}

/** A store URL on the test server whose schema is dropped after the test. */
export function tempStoreUrl(prefix = 't'): string {
  const schema = schemaName(prefix)
  made.push(schema)
  return storeUrl(schema)
}

/** A store URL for `schema` on the test server. */
export function storeUrl(schema: string): string {
  const url = new URL(PG_URL)
  url.searchParams.set('schema', schema)
  return url.toString()
}
