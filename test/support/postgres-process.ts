import pg from 'pg'
import { afterEach } from 'vitest'
import type { Agent, Message } from './child.js'
import { adminQuery, dropSchema, PG_URL, schemaName, storeUrl } from './postgres.js'

/** Helpers for tests that run real worker processes on a PostgreSQL schema of their own. */

const made: string[] = []

afterEach(async () => {
  for (const schema of made.splice(0)) await dropSchema(schema)
})

export interface TestSchema {
  name: string
  /** The store URL for the test's processes. */
  store: string
  /**
   * The same store, its connections named `appNameOf(name)` rather than 'offload': give it to the
   * processes whose connections the test will terminate, so it finds exactly those among the
   * connections of tests running beside it and of its own checking code.
   */
  taggedStore: string
  /** `schema.runs`: one row per handler execution, written by the agents' `record` option. */
  runs: string
  /** What the agent fixture's `record` option takes. */
  record: { url: string; table: string }
}

/** A fresh schema for one test, dropped after it. */
export function testSchema(prefix: string): TestSchema {
  const name = schemaName(prefix)
  made.push(name)
  const tagged = new URL(storeUrl(name))
  // pg lets a URL's parameters override its options, the store's application_name among them.
  tagged.searchParams.set('application_name', appNameOf(name))
  const runs = `${pg.escapeIdentifier(name)}.runs`
  return { name, store: storeUrl(name), taggedStore: tagged.toString(), runs, record: { url: PG_URL, table: runs } }
}

/** The application name of a test schema's `taggedStore` connections. */
export function appNameOf(schema: string): string {
  return `offload-${schema}`
}

/** Creates the table the agents' `record` option writes to; the store must have migrated (the schema exists). */
export async function createRunsTable(schema: TestSchema): Promise<void> {
  await adminQuery(`CREATE TABLE ${schema.runs} (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id text NOT NULL, attempt integer NOT NULL, pid integer NOT NULL)`)
}

/** Resolves once the agents together have sent `count` messages that match; rejects after `timeoutMs`. */
export function waitForCount(agents: Agent[], match: (message: Message) => boolean, count: number, what: string, timeoutMs = 30_000): Promise<void> {
  let seen = agents.reduce((sum, agent) => sum + agent.messages.filter(match).length, 0)
  if (seen >= count) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const end = (error?: Error): void => {
      clearTimeout(timer)
      for (const unsubscribe of subscriptions) unsubscribe()
      if (error === undefined) resolve()
      else reject(error)
    }
    const timer = setTimeout(() => end(new Error(`${agents.length} processes never sent ${count} ${what} (${seen} seen)`)), timeoutMs)
    const subscriptions = agents.map((agent) => agent.subscribe((message) => void (match(message) && ++seen >= count && end())))
  })
}

/** Warnings, errors and stderr output of the agents. */
export function problems(agents: Agent[]): string[] {
  return agents.flatMap((agent) => [
    ...agent.messages.filter((message) => message.type === 'error' || message.type === 'warn').map((message) => String(message.message)),
    ...agent.stderr,
  ])
}
