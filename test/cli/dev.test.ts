import { expect, test } from 'vitest'
import { tempDb } from '../support/temp.js'
import { lines, runCli, startCli } from './cli-process.js'

/** `12:00:01.234  image.resize     …a1b2c3d4  completed  in 257ms → {…}` */
const EVENT_LINE = /^\d\d:\d\d:\d\d\.\d{3} {2}(\S+) +…([0-9a-f]{8}) {2}(\w+) *(.*)$/

function events(stdout: string): { task: string; job: string; type: string; detail: string }[] {
  return lines(stdout).flatMap((line) => {
    const match = EVENT_LINE.exec(line)
    return match === null ? [] : [{ task: match[1]!, job: match[2]!, type: match[3]!, detail: match[4]! }]
  })
}

const outcomes = (stdout: string): number => events(stdout).filter((event) => event.type === 'completed' || event.type === 'failed').length

test('dev (what npm start runs) prints the seeded demo jobs as they happen and exits 0 on Ctrl-C', async () => {
  // --port 0: tests run in parallel, and each dev's API needs a port of its own.
  const dev = startCli(['dev', '--tasks', 'examples/tasks.ts', '--store', `sqlite:${tempDb()}`, '--port', '0'])
  await dev.waitForStdout(/^offload dev {2}sqlite:.* \(schema v\d+\)$/m)
  await dev.waitForStdout(/^ {2}api {6}http:\/\/127\.0\.0\.1:\d+ /m)
  // The examples' seed makes eight jobs, one of them a duplicate by key: seven outcomes.
  await dev.waitFor(() => outcomes(dev.stdout) >= 7, 'seven job outcomes')
  dev.signal('SIGINT')
  const { code, signal, stdout, stderr } = await dev.finished()
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' })
  expect(stdout).toMatch(/SIGINT: stopping\n(.*\n)*stopped\n$/)
  expect(stdout).toMatch(/seed {2}enqueue with key 'welcome:ada' again: existing=true/)

  const seen = events(stdout)
  const of = (task: string, type: string) => seen.filter((event) => event.task === task && event.type === type)
  expect(of('image.resize', 'completed')).toHaveLength(2)
  expect(of('image.resize', 'progress').map((event) => event.detail)).toEqual(expect.arrayContaining(['25%', '100%']))
  expect(of('image.resize', 'log').map((event) => event.detail)).toContain('"downloading https://example.com/cat.png"')
  expect(of('email.send', 'retrying')[0]!.detail).toMatch(/^in \d+ms after attempt 1\/3: connection reset by smtp\.example\.com$/)
  expect(of('email.send', 'completed').map((event) => event.detail)).toEqual([
    expect.stringMatching(/^in \d+ms on attempt 2\/3 → \{"messageId":/),
    expect.stringMatching(/^in \d+ms on attempt 2\/3 → \{"messageId":/),
  ])
  expect(of('email.send', 'enqueued').map((event) => event.detail)).toContainEqual(expect.stringMatching(/^scheduled on 'emails', runs at /))
  expect(of('report.build', 'snoozed').length).toBeLessThanOrEqual(1) // none if the worker was slower than the data
  expect(of('report.build', 'completed')).toHaveLength(1)
  expect(of('webhook.deliver', 'failed')[0]!.detail).toMatch(/^attempt 1\/5: permanent error: refusing to deliver to http:/)
  expect(of('webhook.deliver', 'completed')[0]!.detail).toMatch(/→ \{"status":202,"event":"order\.paid"\}$/)
})

test('dev --json prints JSON Lines; a second Ctrl-C stops at once and the running job is released', async () => {
  const store = `sqlite:${tempDb()}`
  const tasks = 'test/fixtures/cli-tasks.ts'
  const dev = startCli(['dev', '--json', '--tasks', tasks, '--store', store, '--port', '0'])
  // Complete lines only: a record may be half-written when output arrives.
  const records = (): any[] => lines(dev.stdout.slice(0, dev.stdout.lastIndexOf('\n') + 1)).map((line) => JSON.parse(line))
  const outcome = (task: string) => records().find((record) => record.type === 'event' && record.event.task === task && ['completed', 'failed'].includes(record.event.type))
  await dev.waitFor(() => outcome('greet') !== undefined && outcome('reject') !== undefined, 'the seeded jobs to finish')
  expect(records()[0]).toMatchObject({ type: 'ready', tasks: ['greet', 'reject', 'wait'], queues: ['default', 'greetings', 'offload.webhooks'], concurrency: 10 })
  // The same dev serves the HTTP API, on the same store.
  const { api } = records()[0]
  expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  const seeded = await fetch(`${api}/v1/jobs/${outcome('greet').event.jobId}`)
  expect(seeded.status).toBe(200)
  expect(await seeded.json()).toMatchObject({ task: 'greet', state: 'completed', result: { greeting: 'hello, seed' } })
  expect(records()).toContainEqual({ type: 'seed', file: tasks, message: 'seeded 2 jobs' })
  expect(outcome('greet').event).toMatchObject({ type: 'completed', state: 'completed', attempt: 1 })
  expect(outcome('reject').event).toMatchObject({ type: 'failed', data: { error: { name: 'PermanentError', message: 'seeded to fail' } } })

  const { id } = JSON.parse((await runCli(['enqueue', 'wait', '--tasks', tasks, '--store', store, '--json'])).stdout)
  await dev.waitForStderr(new RegExp(`wait: job ${id} started`))
  dev.signal('SIGINT')
  await dev.waitForStderr(/SIGINT: stopping; waiting up to 10\.0s for 1 running job/)
  dev.signal('SIGINT')
  const result = await dev.finished()
  expect(result.code).toBe(0)
  const last = records()
  expect(last.at(-1)).toEqual({ type: 'stopped' })
  expect(last.filter((record) => record.type === 'event' && record.event.jobId === id).map((record) => record.event.type)).toEqual([
    'enqueued',
    'started',
    'released',
  ])
})
