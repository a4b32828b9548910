import pg from 'pg'
import { PG_URL } from '../workers/names.js'

/** Runs one statement on its own connection: schema resets and version probes, never timed. */
export async function pgQuery<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    return (await client.query<T>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Drops a schema the bench owns, so each scenario starts from an empty database. */
export async function dropSchema(schema: string): Promise<void> {
  await pgQuery(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
}

export async function postgresVersion(): Promise<string> {
  const [row] = await pgQuery<{ server_version: string }>('SHOW server_version')
  const [sync] = await pgQuery<{ synchronous_commit: string }>('SHOW synchronous_commit')
  const [fsync] = await pgQuery<{ fsync: string }>('SHOW fsync')
  return `${row?.server_version ?? 'unknown'} (synchronous_commit ${sync?.synchronous_commit}, fsync ${fsync?.fsync})`
}
