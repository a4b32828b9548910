/**
 * Issue 2, item 12: bad input gets one readable line on stderr and exit code 2, writes nothing to
 * the store, and never shows a stack trace.
 */
import { expect, test } from 'vitest'
import { tempDb } from '../support/temp.js'
import { lines, runCli, type CliResult } from './cli-process.js'

const TASKS = 'test/fixtures/cli-tasks.ts'

function expectBadInput(result: CliResult, message: RegExp): void {
  expect({ code: result.code, stdout: result.stdout, stderr: lines(result.stderr) }).toEqual({
    code: 2,
    stdout: '',
    stderr: [expect.stringMatching(/^offload: /)],
  })
  expect(result.stderr).toMatch(message)
  expect(result.stderr).not.toMatch(/\n\s+at /)
}

test('each kind of bad input: one line on stderr, exit 2, nothing on stdout, nothing in the store', async () => {
  const store = `sqlite:${tempDb()}`
  const cases: [string[], RegExp, string?][] = [
    [['jbos'], /unknown command 'jbos', did you mean 'jobs'\?/],
    [['jobs', '--stat', 'failed'], /unknown option '--stat' for 'offload jobs', did you mean '--state'\?/],
    [['enqueue', 'greet', '--tasks', TASKS, '--dealy', '5s'], /unknown option '--dealy'.*did you mean '--delay'\?/],
    [['enqueue', 'gret', '{}', '--tasks', TASKS], /unknown task 'gret', did you mean 'greet'\?/],
    [['enqueue', 'greet', '{name: ada}', '--tasks', TASKS], /the payload is not valid JSON/],
    [['enqueue', 'greet', '-', '--tasks', TASKS], /the payload from stdin is not valid JSON/, 'not json'],
    [['enqueue', '--tasks', TASKS], /'offload enqueue' needs <task>/],
    [['enqueue', 'greet', '{}'], /no task modules: pass --tasks/],
    [['enqueue', 'greet', '{}', '--tasks', 'test/fixtures/missing.ts'], /cannot find task module 'test\/fixtures\/missing.ts'/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--attempts', '0'], /--attempts must be an integer from 1/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--priority', 'NaN'], /--priority must be an integer, got 'NaN'/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--delay=-5s'], /--delay must be a duration/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--queue', 'no spaces'], /queue name "no spaces" is not valid/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--metadata', '[1]'], /metadata must be an object/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--run-at', 'tomorrow'], /--run-at must be an ISO date/],
    [['enqueue', 'greet', '{}', '--tasks', TASKS, '--key-ttl', '1m'], /--key-ttl needs a key/],
    [['enqueue', 'greet', '-', '--tasks', TASKS], /over the 1048576-byte limit/, JSON.stringify({ name: 'x'.repeat(1_100_000) })],
    [['worker', '--tasks', TASKS, '--concurrency', 'lots'], /--concurrency must be an integer, got 'lots'/],
    [['worker', '--tasks', TASKS, '--lease', '10ms'], /--lease must be at least 1s/],
    [['worker', '--tasks', TASKS, '--queues', 'a b'], /queue name "a b" is not valid/],
    [['dev', '--tasks', TASKS, '--concurrency', '0'], /--concurrency must be an integer from 1 to 10000, got 0/],
    [['jobs', '--state', 'runing'], /unknown job state "runing", did you mean 'running'\?/],
    [['jobs', '--limit', '5000'], /--limit must be an integer from 1 to 1000/],
    [['jobs', '--store'], /--store needs a value <url>/],
    [['job'], /'offload job' needs <id>/],
    [['job', '01a20000-0000-7000-8000-000000000000', 'extra'], /unexpected argument 'extra'/],
    [['job', '01a20000-0000-7000-8000-000000000000'], /no job with id 01a20000-0000-7000-8000-000000000000/],
    [['cancel', '01a20000-0000-7000-8000-000000000000'], /01a20000-0000-7000-8000-000000000000/],
    [['retry', 'nope'], /nope/],
  ]
  const results = await Promise.all(
    cases.map(([args, , input]) => runCli(['--json', ...(args.includes('--store') ? [] : ['--store', store]), ...args], input === undefined ? {} : { input })),
  )
  cases.forEach(([args, message], index) => {
    try {
      expectBadInput(results[index]!, message)
    } catch (error) {
      throw new Error(`offload ${args.join(' ').slice(0, 100)}: ${(error as Error).message}`)
    }
  })

  const listed = await runCli(['jobs', '--json', '--store', store])
  expect(listed.code).toBe(0)
  expect(JSON.parse(listed.stdout)).toEqual({ jobs: [] })
})

test('an invalid store URL is bad input; OFFLOAD_DEBUG=1 adds the stack', async () => {
  const plain = await runCli(['jobs', '--store', 'mysql://localhost/jobs'])
  expectBadInput(plain, /unsupported scheme 'mysql:'/)
  const debug = await runCli(['jobs', '--store', 'mysql://localhost/jobs'], { env: { OFFLOAD_DEBUG: '1' } })
  expect(debug.code).toBe(2)
  expect(debug.stderr).toMatch(/\n\s+at /)
})

test('a store that cannot be opened is a failure (exit 1), not bad input', async () => {
  // A directory where the database file should be: SQLite cannot open it.
  const result = await runCli(['jobs', '--store', `sqlite:${tempDb().replace(/offload\.db$/, '')}`])
  expect(result.code).toBe(1)
  expect(lines(result.stderr)).toEqual([expect.stringMatching(/^offload: /)])
  expect(result.stdout).toBe('')
})
