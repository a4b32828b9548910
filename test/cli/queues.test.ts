import { describe, expect, test } from 'vitest'
import { STORE_KINDS } from '../support/stores.js'
import { lines, runCli, runJson } from './cli-process.js'

const TASKS = 'test/fixtures/cli-tasks.ts'


describe.each(STORE_KINDS)('%s store', (_name, newStore) => {
  test('queues lists counts and paused flags; pause and resume switch a queue, idempotently', async () => {
    const store = newStore()
    const common = ['--store', store]
    expect(await runJson(['queues', ...common])).toEqual({ queues: [] })
    expect((await runCli(['queues', ...common])).stdout).toBe('no queues yet\n')

    await runJson(['enqueue', 'greet', '{"name":"ada"}', '--tasks', TASKS, ...common])
    await runJson(['enqueue', 'greet', '{"name":"bob"}', '--tasks', TASKS, ...common, '--delay', '1h'])
    const listed = await runJson(['queues', ...common])
    expect(listed.queues).toEqual([
      {
        queue: 'greetings',
        paused: false,
        counts: { scheduled: 1, queued: 1, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0 },
        oldestQueuedAt: expect.any(String),
      },
    ])

    expect(await runJson(['pause', 'greetings', ...common])).toEqual({ queue: 'greetings', paused: true, changed: true })
    expect(await runJson(['pause', 'greetings', ...common])).toEqual({ queue: 'greetings', paused: true, changed: false })
    expect((await runJson(['queues', ...common])).queues[0]).toMatchObject({ queue: 'greetings', paused: true })

    const table = await runCli(['queues', ...common])
    expect(table.code).toBe(0)
    expect(lines(table.stdout)[0]).toMatch(/^QUEUE\s+STATUS\s+SCHEDULED\s+QUEUED\s+RUNNING\s+RETRYING\s+COMPLETED\s+FAILED\s+CANCELLED\s+OLDEST QUEUED$/)
    expect(lines(table.stdout)[1]).toMatch(/^greetings\s+paused\s+1\s+1\s+-\s+-\s+-\s+-\s+-\s+\S+$/)
    expect(table.stdout).toContain('1 queue, 1 paused')

    const resumed = await runCli(['resume', 'greetings', ...common])
    expect(resumed).toMatchObject({ code: 0, stdout: "queue 'greetings' is resumed: workers take its 1 queued job again\n" })
    expect((await runCli(['resume', 'greetings', ...common])).stdout).toBe("queue 'greetings' was not paused\n")
    expect((await runJson(['queues', ...common])).queues[0]).toMatchObject({ queue: 'greetings', paused: false })

    // An empty queue may be paused ahead of time; a near miss of a known one is pointed out.
    const typo = await runCli(['pause', 'greetinsg', ...common])
    expect(typo.code).toBe(0)
    expect(typo.stdout).toContain("it holds no jobs yet; did you mean 'greetings'?")
  })
})

test('pause and resume need one valid queue name: exit 2 with one line', async () => {
  const store = `sqlite::memory:`
  const missing = await runCli(['pause', '--store', store])
  expect(missing).toMatchObject({ code: 2, stdout: '' })
  expect(lines(missing.stderr)).toEqual(["offload: 'offload pause' needs <queue>; usage: offload pause <queue>"])
  const extra = await runCli(['resume', 'a', 'b', '--store', store])
  expect(extra.code).toBe(2)
  expect(lines(extra.stderr)).toHaveLength(1)
  const bad = await runCli(['pause', 'no spaces', '--store', store])
  expect(bad.code).toBe(2)
  expect(lines(bad.stderr)).toHaveLength(1)
  expect(bad.stderr).toMatch(/^offload: .*queue/)
  const unknownOption = await runCli(['queues', '--paused', '--store', store])
  expect(unknownOption.code).toBe(2)
})
