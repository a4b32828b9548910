/**
 * Transactional enqueue on PostgreSQL: a job enqueued through the application's own `pg` client
 * inside its transaction exists if and only if that transaction commits, and a worker hears of it
 * at the commit.
 */
import pg from 'pg'
import { afterEach, expect, test } from 'vitest'
import { createOffload, isOffloadError, type Offload } from '../../src/index.js'
import { dropSchema, PG_URL, schemaName, storeUrl } from '../support/postgres.js'
import { tempDb } from '../support/temp.js'

const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function setup(): Promise<{ offload: Offload; client: pg.Client }> {
  const schema = schemaName('tx')
  const offload = createOffload({ store: storeUrl(schema), logger: false })
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  await offload.migrate()
  await client.query(`CREATE TABLE ${pg.escapeIdentifier(schema)}.orders (id int PRIMARY KEY)`)
  cleanups.push(
    () => dropSchema(schema),
    () => offload.close({ grace: 0 }),
    () => client.end(),
  )
  return { offload, client }
}

test('a job enqueued in a transaction that commits exists, and a listening worker runs it at the commit', async () => {
  const { offload, client } = await setup()
  const ran: string[] = []
  const ship = offload.task('order.ship', { run: async (input: { order: number }, ctx) => void ran.push(`${ctx.jobId}:${input.order}`) })
  await offload.work({ concurrency: 2, handleSignals: false, pollInterval: '1h' })

  await client.query('BEGIN')
  await client.query(`INSERT INTO ${pg.escapeIdentifier(schemaOf(offload))}.orders VALUES (1)`)
  const job = await ship.enqueue({ order: 1 }, { transaction: client })
  expect(job.existing).toBe(false)
  // Not committed: nobody else sees it, no worker runs it.
  expect(await offload.getJob(job.id)).toBeUndefined()
  await client.query('COMMIT')

  // pollInterval is an hour: only the NOTIFY delivered at commit can wake the worker this soon.
  await expect(job.result({ timeout: '10s' })).resolves.toBeUndefined()
  expect(ran).toEqual([`${job.id}:1`])
  expect((await job.get()).state).toBe('completed')
})

test('a job enqueued in a transaction that rolls back never exists, and its key stays free', async () => {
  const { offload, client } = await setup()
  const ship = offload.task('order.ship', { run: async (_input: { order?: number }) => {} })

  await client.query('BEGIN')
  const [a, b] = await ship.enqueueMany([
    { payload: { order: 2 }, options: { key: 'order-2', transaction: client } },
    { payload: { order: 3 }, options: { transaction: client } },
  ])
  await client.query('ROLLBACK')

  expect(await offload.getJob(a!.id)).toBeUndefined()
  expect(await offload.getJob(b!.id)).toBeUndefined()
  expect(await offload.countJobs()).toEqual([])
  const again = await ship.enqueue({ order: 2 }, { key: 'order-2' })
  expect(again.existing).toBe(false)
  expect(again.id).not.toBe(a!.id)
})

test('a key held by a committed job is reported from inside the transaction', async () => {
  const { offload, client } = await setup()
  const ship = offload.task('order.ship', { run: async (_input: { order?: number }) => {} })
  const first = await ship.enqueue({ order: 4 }, { key: 'order-4' })
  await client.query('BEGIN')
  const second = await ship.enqueue({ order: 4 }, { key: 'order-4', transaction: client })
  await client.query('COMMIT')
  expect(second).toMatchObject({ id: first.id, existing: true })
  expect((await offload.listJobs()).jobs).toHaveLength(1)
})

test('an open application transaction holding an enqueue holds up neither readers of the log nor other writers', async () => {
  const { offload, client } = await setup()
  const ship = offload.task('order.ship', { run: async (_input: { order?: number }) => {} })
  await client.query('BEGIN')
  const pending = await ship.enqueue({ order: 5 }, { transaction: client })
  // Each of these would wait for the COMMIT below if the open transaction held the log's gate.
  const before = await ship.enqueue({ order: 6 })
  expect(await offload.store.eventLastSeq()).toBeGreaterThan(0)
  const after = await ship.enqueue({ order: 7 })
  expect((await offload.store.eventList({ limit: 10 })).map((event) => event.jobId)).toEqual([before.id, after.id])
  await client.query('COMMIT')
  expect((await offload.jobEvents(pending.id)).map((event) => event.type)).toEqual(['enqueued'])
})

test('bad transaction options are refused before anything is written', async () => {
  const { offload, client } = await setup()
  const ship = offload.task('order.ship', { run: async (_input: { order?: number }) => {} })
  const other = new pg.Client({ connectionString: PG_URL })
  await expectCode(
    () => ship.enqueueMany([{ payload: {}, options: { transaction: client } }, { payload: {} }]),
    'INVALID_OPTION',
  )
  await expectCode(
    () => ship.enqueueMany([{ payload: {}, options: { transaction: client } }, { payload: {}, options: { transaction: other } }]),
    'INVALID_OPTION',
  )
  await expectCode(() => ship.enqueue({}, { transaction: { nope: true } as never }), 'INVALID_OPTION')
  expect(await offload.countJobs()).toEqual([])

  // The embedded store has no transaction to join.
  const sqlite = createOffload({ store: `sqlite:${tempDb()}`, logger: false })
  cleanups.push(() => sqlite.close())
  const local = sqlite.task('order.ship', { run: async (_input: { order?: number }) => {} })
  await expectCode(() => local.enqueue({}, { transaction: client }), 'INVALID_OPTION')
  expect(await sqlite.countJobs()).toEqual([])
})

function schemaOf(offload: Offload): string {
  return /\(schema (\w+)\)$/.exec(offload.store.description)![1]!
}

async function expectCode(call: () => Promise<unknown>, code: string): Promise<void> {
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(isOffloadError(error) ? error.code : error).toBe(code)
}
