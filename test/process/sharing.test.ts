/**
 * Several processes on one store — one SQLite file, or one PostgreSQL schema: producers and
 * workers side by side never surface "database is locked" or any other error, race on a key
 * without creating two jobs, migrate once, and wake each other without polling.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { createOffload, type Offload } from '../../src/index.js'
import { startAgent, type Agent } from '../support/child.js'
import { STORE_KINDS } from '../support/stores.js'
import { probe } from './fixtures/probe-task.js'

const AGENT = 'test/process/fixtures/agent.ts'
let offload: Offload | undefined

afterEach(async () => {
  await offload?.close()
  offload = undefined
})

function problems(agents: Agent[]): string[] {
  return agents.flatMap((agent) => [
    ...agent.messages.filter((message) => message.type === 'error' || message.type === 'warn').map((message) => String(message.message)),
    ...agent.stderr,
  ])
}

describe.each(STORE_KINDS)('one %s store', (_name, newStore) => {
  test('three producers and two workers share it: every job runs exactly once, no lock errors', async () => {
    const store = newStore()
    const perProducer = 1500
    const workers = [0, 1].map(() => startAgent(AGENT, { mode: 'worker', store, concurrency: 20 }))
    await Promise.all(workers.map((worker) => worker.waitForType('ready')))
    const producers = [0, 1, 2].map(() => startAgent(AGENT, { mode: 'enqueue', store, count: perProducer, parallel: 8, waitGo: true }))
    await Promise.all(producers.map((producer) => producer.waitForType('waiting')))
    for (const producer of producers) producer.send('go')
    for (const producer of producers) {
      await producer.waitForType('done', 60_000)
      expect((await producer.exited).code).toBe(0)
    }
    const acked = producers.flatMap((producer) => producer.messages.filter((m) => m.type === 'acked').map((m) => m.id as string))
    expect(new Set(acked).size).toBe(3 * perProducer)

    offload = createOffload({ store, logger: false, tasks: [probe] })
    await Promise.all(acked.map((id) => offload!.result(id, { timeout: '60s' })))
    // Stopped workers have flushed their stdout: every start they reported is in hand.
    for (const worker of workers) await worker.kill('SIGTERM')
    const started = workers.flatMap((worker) => worker.messages.filter((m) => m.type === 'started').map((m) => m.id as string))
    expect(started.length).toBe(acked.length)
    expect(new Set(started)).toEqual(new Set(acked))
    expect(problems([...workers, ...producers])).toEqual([])
  })

  test('processes racing to enqueue one idempotency key create exactly one job', async () => {
    const store = newStore()
    offload = createOffload({ store, logger: false, tasks: [probe] })
    await offload.migrate()
    const racers = Array.from({ length: 6 }, () => startAgent(AGENT, { mode: 'enqueue', store, count: 20, parallel: 4, key: 'only-one', waitGo: true }))
    await Promise.all(racers.map((racer) => racer.waitForType('waiting')))
    for (const racer of racers) racer.send('go')
    await Promise.all(racers.map((racer) => racer.waitForType('done')))
    const acks = racers.flatMap((racer) => racer.messages.filter((m) => m.type === 'acked'))
    expect(acks).toHaveLength(6 * 20)
    expect(new Set(acks.map((ack) => ack.id)).size).toBe(1)
    expect(acks.filter((ack) => ack.existing === false)).toHaveLength(1)
    const { jobs } = await offload.listJobs({ task: 'probe' })
    expect(jobs.map((job) => job.id)).toEqual([acks[0]!.id])
    expect(problems(racers)).toEqual([])
  })

  test('ten processes migrating a new store at once apply each migration exactly once', async () => {
    const store = newStore()
    const migrators = Array.from({ length: 10 }, () => startAgent(AGENT, { mode: 'migrate', store, waitGo: true }))
    await Promise.all(migrators.map((migrator) => migrator.waitForType('waiting')))
    for (const migrator of migrators) migrator.send('go')
    const results = await Promise.all(migrators.map((migrator) => migrator.waitForType('migrated')))
    // Each version up to the store's latest exactly once, whichever process applied it. (Versions
    // need not be consecutive: parallel branches reserve their numbers before they merge.)
    const applied = results.flatMap((result) => result.applied as number[]).sort((a, b) => a - b)
    const version = applied[applied.length - 1]
    expect(applied[0]).toBe(1)
    expect(applied).toEqual([...new Set(applied)])
    expect(new Set(results.map((result) => result.version))).toEqual(new Set([version]))
    for (const migrator of migrators) expect((await migrator.exited).code).toBe(0)
  })

  test('a job enqueued in another process wakes an idle worker without its poll', async () => {
    const store = newStore()
    // A poll this slow never fires during the test: only the store's change notes can wake it.
    const worker = startAgent(AGENT, { mode: 'worker', store, pollInterval: '1h' })
    await worker.waitForType('ready')
    offload = createOffload({ store, logger: false, tasks: [probe] })
    for (let n = 0; n < 3; n++) {
      const job = await offload.enqueue('probe', { n })
      expect(await job.result({ timeout: '20s' })).toEqual({ pid: worker.pid })
    }
    await worker.kill('SIGTERM')
  })
})
