/**
 * The PostgreSQL store when the database misbehaves: the server terminates every connection of
 * running workers (pg_terminate_backend), or cannot be reached at all. Workers reconnect — pools
 * and LISTEN connections — and lose nothing acknowledged; callers get STORE_UNAVAILABLE in bounded
 * time, never a hang.
 */
import { createServer, type Server, type Socket } from 'node:net'
import pg from 'pg'
import { afterEach, expect, test } from 'vitest'
import { createOffload, isOffloadError, type Offload } from '../../src/index.js'
import { startAgent } from '../support/child.js'
import { pgError, PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { PgProxy } from '../support/pg-proxy.js'
import { eventually } from '../support/eventually.js'
import { adminQuery, PG_URL } from '../support/postgres.js'
import { appNameOf, createRunsTable, problems, testSchema, waitForCount } from '../support/postgres-process.js'
import { probe } from './fixtures/probe-task.js'

const AGENT = 'test/process/fixtures/agent.ts'
let offload: Offload | undefined
const servers: { server: Server; sockets: Set<Socket> }[] = []

afterEach(async () => {
  await offload?.close()
  offload = undefined
  for (const { server, sockets } of servers.splice(0)) {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
})

/**
 * Terminates every server connection opened with the test's `taggedStore` — pool and LISTEN
 * connections alike — and returns what each was last doing. Connections opened with its plain
 * `store`, and those of tests running beside it (application name 'offload'), are left alone.
 */
async function terminate(schema: string): Promise<{ pid: number; query: string }[]> {
  const rows = await adminQuery<{ pid: number; query: string; terminated: boolean }>(
    `SELECT pid, query, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
     WHERE application_name = $1 AND pid <> pg_backend_pid()`,
    [appNameOf(schema)],
  )
  // false: the connection was closing on its own between the read and the signal.
  return rows.filter((row) => row.terminated).map(({ pid, query }) => ({ pid, query }))
}

const isListen = (row: { query: string }): boolean => row.query.startsWith('LISTEN')

/** How many of the schema's processes' connections are listening now. */
async function listening(schema: string): Promise<number> {
  const rows = await adminQuery<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE application_name = $1`, [appNameOf(schema)])
  return rows.filter(isListen).length
}

/** What the runtime logs when a store call failed and it will try again. */
const RETRYING = /^(claiming jobs failed; trying again|writing job (outcomes|progress) failed; retrying|renewing leases failed; will try again|leader election failed|maintenance [\w ]+ failed|reading the schedules failed; trying again)/

test('workers whose every connection is terminated mid-run reconnect and finish every acknowledged job', async () => {
  const schema = testSchema('term')
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  await offload.migrate()
  await createRunsTable(schema)
  // A short lease: a claim whose reply the termination swallowed is rescued in seconds, not 15.
  const settings = { store: schema.taggedStore, leaseDuration: '2s', maintenance: { leaderTtl: '1s', rescueInterval: '200ms' } }
  const workers = [0, 1].map(() => startAgent(AGENT, { mode: 'worker', concurrency: 20, record: schema.record, ...settings }))
  await Promise.all(workers.map((worker) => worker.waitForType('ready')))

  const total = 3_000
  const handles = await offload.enqueueMany(Array.from({ length: total }, (_, n) => ({ task: 'probe', payload: { n } })))
  // A producer enqueuing through the termination: its acknowledged jobs must all be there after.
  const producer = startAgent(AGENT, { mode: 'enqueue', count: 1_000, parallel: 4, tolerateErrors: true, waitGo: true, ...settings })
  await producer.waitForType('waiting')
  await waitForCount(workers, (message) => message.type === 'started', 600, 'job starts')
  producer.send('go')
  await producer.waitForType('acked')

  const first = await terminate(schema.name)
  // Both workers' pool connections, their LISTEN connections and the producer's.
  expect(first.filter(isListen).length).toBeGreaterThanOrEqual(2)
  expect(first.length).toBeGreaterThanOrEqual(5)
  await producer.waitForType('done')
  // Again once they have reconnected, while the backlog still runs.
  await waitForCount(workers, (message) => message.type === 'started', 1_800, 'job starts')
  // Reconnecting is the workers' business and takes its own time; under load it may lag the job
  // starts, so wait for both listeners to be back rather than assume they are.
  await eventually(async () => (await listening(schema.name)) >= 2, 'both workers listen again')
  const second = await terminate(schema.name)
  expect(second.filter(isListen).length).toBeGreaterThanOrEqual(2)

  const acked = [...handles.map((handle) => handle.id), ...producer.messages.filter((m) => m.type === 'acked').map((m) => m.id as string)]
  expect(acked.length).toBeGreaterThan(total)
  await Promise.all(acked.map((id) => offload!.result(id, { timeout: '60s' })))
  await Promise.all(workers.map((worker) => worker.kill('SIGTERM')))
  for (const worker of workers) expect((await worker.exited).code).toBe(0)

  // Every acknowledged job completed. A job ran more than once only where the record shows why:
  // its first claim's reply was lost with the connection and the rescuer gave the job back.
  const counts = await offload.countJobs()
  expect(counts.filter((count) => count.state !== 'completed')).toEqual([])
  const runs = await adminQuery<{ job_id: string; n: number }>(`SELECT job_id, count(*)::int AS n FROM ${schema.runs} GROUP BY job_id`)
  const ran = new Set(runs.map((run) => run.job_id))
  expect(acked.filter((id) => !ran.has(id))).toEqual([])
  for (const run of runs.filter((run) => run.n > 1)) {
    const types = (await offload.jobEvents(run.job_id)).map((event) => event.type)
    expect(types.filter((type) => type === 'rescued')).toHaveLength(run.n - 1)
  }
  // Enqueues that failed while the connections were down said so, as STORE_UNAVAILABLE.
  const failed = producer.messages.filter((message) => message.type === 'enqueue-failed')
  expect(failed.filter((message) => message.code !== 'STORE_UNAVAILABLE')).toEqual([])
  // The workers said what failed and that they would try again; nothing else went wrong.
  const complaints = problems(workers).filter((problem) => !RETRYING.test(problem))
  expect(complaints).toEqual([])
}, 120_000)

test('a call in flight when the server terminates its connection rejects with STORE_UNAVAILABLE; the next one gets a new connection', async () => {
  const schema = testSchema('inflight')
  offload = createOffload({ store: schema.taggedStore, logger: false, tasks: [probe] })
  await offload.migrate()
  // Hold the enqueue inside its statement: an admin transaction locks the table it writes.
  const admin = new pg.Client({ connectionString: PG_URL, application_name: 'offload-test-admin' })
  await admin.connect()
  try {
    await admin.query('BEGIN')
    await admin.query(`LOCK TABLE ${pg.escapeIdentifier(schema.name)}.jobs IN ACCESS EXCLUSIVE MODE`)
    const enqueued = offload.enqueue('probe', { n: 0 }).then(
      () => undefined,
      (error: unknown) => error,
    )
    await waitForLockWait(schema.name)
    expect((await terminate(schema.name)).length).toBeGreaterThanOrEqual(1)
    const error = await enqueued
    expect(isOffloadError(error, 'STORE_UNAVAILABLE'), String(error)).toBe(true)
    expect((error as Error).message).toMatch(/^cannot reach postgres:.* \(schema inflight_\w+\): terminating connection due to administrator command$/)
  } finally {
    await admin.query('ROLLBACK')
    await admin.end()
  }
  // Nothing was acknowledged, and nothing half-written: the statement died with its transaction.
  expect(await offload.countJobs()).toEqual([])
  const job = await offload.enqueue('probe', { n: 1 })
  expect(await job.get()).toMatchObject({ state: 'queued' })
})

test('a connection the server ends between two statements of a store transaction fails that call, not the process', async () => {
  const schema = testSchema('gap')
  const store = new PostgresStore({ url: schema.taggedStore })
  try {
    await store.migrate()
    // Between two statements the client has no query the server's goodbye could fail: pg emits
    // it as an 'error' event, which with no listener would end this process. The gap is forced
    // here; in a worker it is the moment between one statement's reply and the next statement.
    const inTransaction = (store as unknown as { transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> }).transaction(
      async (client) => {
        await client.query('SELECT 1')
        expect((await terminate(schema.name)).length).toBeGreaterThanOrEqual(1)
        await eventually(async () => (await adminQuery(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [appNameOf(schema.name)])).length === 0, 'the connection is gone')
        await new Promise((resolve) => setTimeout(resolve, 50))
        return client.query('SELECT 2')
      },
    )
    const error = await inTransaction.then(
      () => undefined,
      (error: unknown) => pgError(error, 'postgres'),
    )
    expect(isOffloadError(error, 'STORE_UNAVAILABLE'), String(error)).toBe(true)
    // The broken connection was discarded, not pooled: the next call gets a new one.
    expect(await store.jobCounts()).toEqual([])
  } finally {
    await store.close()
  }
})

/** Resolves once a connection of the test's tagged store waits on a lock (an admin query per try, bounded). */
async function waitForLockWait(schema: string): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    const rows = await adminQuery(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [appNameOf(schema)])
    if (rows.length > 0) return
  }
  throw new Error('no connection of the store ever waited on the lock')
}

test('an idle worker whose connections were terminated wakes for jobs enqueued while it reconnects and after', async () => {
  const schema = testSchema('idle')
  const proxy = await PgProxy.start()
  // A poll this slow never fires during the test: only notifications (or the reconnect's own
  // "anything may have changed") can wake the worker.
  const worker = startAgent(AGENT, { mode: 'worker', store: proxy.url(schema.taggedStore), pollInterval: '1h' })
  await worker.waitForType('ready')
  await proxy.listened(1)
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  expect(await (await offload.enqueue('probe', { n: 0 })).result({ timeout: '5s' })).toEqual({ pid: worker.pid })

  // Terminated, and kept from listening again until a job is in: its notification reaches nobody.
  proxy.hold()
  const terminated = await terminate(schema.name)
  expect(terminated.filter(isListen)).toHaveLength(1)
  await proxy.heldCount(1)
  const missed = await offload.enqueue('probe', { n: 1 })
  proxy.release()
  expect(await missed.result({ timeout: '5s' })).toEqual({ pid: worker.pid })
  // Listening again, a notification alone wakes it.
  await proxy.listened(2)
  expect(await (await offload.enqueue('probe', { n: 2 })).result({ timeout: '5s' })).toEqual({ pid: worker.pid })

  await worker.kill('SIGTERM')
  expect((await worker.exited).code).toBe(0)
  // A store call in flight when its connection was terminated fails and is retried, as in the test
  // above; under load the idle worker's maintenance or its wake-up claim may be that call.
  expect(problems([worker]).filter((problem) => !RETRYING.test(problem))).toEqual([])
})

// Writes committed between listen() and the moment the LISTEN connection is up are never
// announced; the listener therefore reports "anything may have changed" once LISTEN takes effect,
// the first time as after a reconnect. In real life the window is a connection set-up; the proxy
// widens it.
test('a worker hears about jobs enqueued while its first LISTEN connection was still being set up', async () => {
  const schema = testSchema('first')
  const proxy = await PgProxy.start()
  proxy.hold()
  const worker = startAgent(AGENT, { mode: 'worker', store: proxy.url(schema.store), pollInterval: '1h' })
  await worker.waitForType('ready')
  await proxy.heldCount(1)
  offload = createOffload({ store: schema.store, logger: false, tasks: [probe] })
  const job = await offload.enqueue('probe', { n: 0 })
  proxy.release()
  await proxy.listened(1)
  expect(await job.result({ timeout: '5s' })).toEqual({ pid: worker.pid })
  await worker.kill('SIGTERM')
  expect(problems([worker])).toEqual([])
})

/** A TCP server of the test's own, standing in for a database: `onConnection` decides what a client gets. */
async function fakeServer(onConnection: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    onConnection(socket)
  })
  servers.push({ server, sockets })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

/** A port nothing listens on: one the system just gave us, closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

test.each([
  ['nothing listens on the port', closedPort, /ECONNREFUSED/],
  ['the server accepts and never answers', () => fakeServer(() => {}), /timeout/i],
  ['the server accepts and hangs up', () => fakeServer((socket) => socket.destroy()), /terminated|closed|ended|ECONNRESET/i],
] as const)('an enqueue against an unreachable database rejects with STORE_UNAVAILABLE in bounded time: %s', async (_what, listen, cause) => {
  const port = await listen()
  offload = createOffload({ store: `postgres://postgres@127.0.0.1:${port}/test?schema=unreachable`, logger: false, tasks: [probe] })
  const started = performance.now()
  // A worker cannot start either: both wait on the same first connection, and both hear why it failed.
  const [enqueued, working] = await Promise.allSettled([offload.enqueue('probe', { n: 1 }), offload.work({ handleSignals: false })])
  const elapsedMs = performance.now() - started
  for (const outcome of [enqueued, working]) {
    expect(outcome.status).toBe('rejected')
    const error = (outcome as PromiseRejectedResult).reason as unknown
    expect(isOffloadError(error, 'STORE_UNAVAILABLE'), String(error)).toBe(true)
    const message = (error as Error).message
    expect(message).toContain(`cannot reach postgres://postgres@127.0.0.1:${port}/test (schema unreachable)`)
    expect(message).toMatch(cause)
  }
  // The store's connect timeout is 5 s; nothing may wait on the server beyond it.
  expect(elapsedMs).toBeLessThan(10_000)
})
