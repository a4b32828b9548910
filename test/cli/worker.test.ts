import { expect, test } from 'vitest'
import { tempDb } from '../support/temp.js'
import { lines, runCli, startCli } from './cli-process.js'

const TASKS = 'test/fixtures/cli-tasks.ts'

test('enqueue --wait gets the result from a worker process; SIGTERM stops the worker, which exits 0 by itself', async () => {
  const store = `sqlite:${tempDb()}`
  const worker = startCli(['worker', '--tasks', TASKS, '--store', store, '--concurrency', '4'])
  await worker.waitForStdout(/^worker \S+ started on .*: queues default, greetings, offload.webhooks, concurrency 4/m)

  const done = await runCli(['enqueue', 'greet', '{"name":"ada"}', '--tasks', TASKS, '--store', store, '--wait', '--wait-timeout', '30s', '--json'])
  expect(done.stderr).toBe('')
  expect(done.code).toBe(0)
  expect(JSON.parse(done.stdout)).toMatchObject({ task: 'greet', state: 'completed', attempt: 1, result: { greeting: 'hello, ada' } })

  // A job that fails is an outcome: printed, and exit 1 with one line saying why.
  const failed = await runCli(['enqueue', 'reject', '{"reason":"no thanks"}', '--tasks', TASKS, '--store', store, '--wait'])
  expect(failed.code).toBe(1)
  expect(failed.stdout).toMatch(/^enqueued job \S+ \(reject on 'default'\): queued\n$/)
  expect(lines(failed.stderr)).toEqual([expect.stringMatching(/^offload: job \S+ \(reject\) failed after 1 attempt\(s\): no thanks$/)])

  worker.signal('SIGTERM')
  const stopped = await worker.finished()
  expect(stopped).toMatchObject({ code: 0, signal: null })
  expect(stopped.stdout).toMatch(/SIGTERM: stopping\n/)
  expect(stopped.stdout).toMatch(/^worker \S+ stopped after /m)
  expect(stopped.stderr).toBe('')
})

test('worker --json prints JSON Lines; a job running at SIGTERM goes back to its queue', async () => {
  const store = `sqlite:${tempDb()}`
  const worker = startCli(['worker', '--tasks', TASKS, '--store', store, '--json', '--shutdown-grace', '50ms'])
  await worker.waitForStdout(/"type":"ready"/)
  const ready = JSON.parse(lines(worker.stdout)[0]!)
  expect(ready).toMatchObject({ type: 'ready', tasks: ['greet', 'reject', 'wait'], queues: ['default', 'greetings', 'offload.webhooks'], concurrency: 10 })

  const enqueued = JSON.parse((await runCli(['enqueue', 'wait', '--tasks', TASKS, '--store', store, '--json'])).stdout)
  await worker.waitForStderr(new RegExp(`wait: job ${enqueued.id} started`))

  worker.signal('SIGTERM')
  const stopped = await worker.finished()
  expect(stopped.code).toBe(0)
  expect(lines(stopped.stdout).map((line) => JSON.parse(line).type)).toEqual(['ready', 'stopped'])
  const detail = JSON.parse((await runCli(['job', enqueued.id, '--store', store, '--json'])).stdout)
  expect(detail.job).toMatchObject({ state: 'queued', attempt: 0 })
  expect(detail.events.map((event: { type: string }) => event.type)).toEqual(['enqueued', 'started', 'released'])
})
