import { existsSync, writeFileSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { lines, runCli, startCli } from '../cli/cli-process.js'
import { tempDb, tempDir } from '../support/temp.js'
import { call } from './harness.js'

const TASKS = 'test/fixtures/cli-tasks.ts'
const TOKEN = 't'.repeat(40)

const records = (stdout: string): any[] => lines(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).map((line) => JSON.parse(line))

test('serve --json prints {"type":"listening","url"} first, serves the API, and stops on SIGINT', async () => {
  const store = `sqlite:${tempDb()}`
  const serve = startCli(['serve', '--json', '--tasks', TASKS, '--store', store, '--port', '0'])
  await serve.waitFor(() => records(serve.stdout).length > 0, 'the listening record')
  const [listening] = records(serve.stdout)
  expect(listening).toEqual({
    type: 'listening',
    url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    store,
    schemaVersion: expect.any(Number),
    tasks: ['greet', 'reject', 'wait'],
    auth: false,
  })
  const created = await call(listening.url, 'POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'cli' } } })
  expect(created.status).toBe(202)
  // No worker in serve: the job waits.
  expect((await call(listening.url, 'GET', `/v1/jobs/${created.body.id}?wait=100ms`)).body.state).toBe('queued')
  // The client keeps its connection open; the server stops all the same.
  serve.signal('SIGINT')
  const result = await serve.finished(15_000)
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
  expect(records(result.stdout).at(-1)).toEqual({ type: 'stopped' })
})

test('serve prints its URL in text mode; --tokens-file and OFFLOAD_API_TOKENS guard it', async () => {
  const file = join(tempDir(), 'tokens.json')
  writeFileSync(file, JSON.stringify({ tokens: [{ name: 'ci', scope: 'write', token: TOKEN }] }))
  const serve = startCli(['serve', '--tasks', TASKS, '--store', `sqlite:${tempDb()}`, '--port', '0', '--tokens-file', file], {
    env: { OFFLOAD_API_TOKENS: `read:${'r'.repeat(40)}` },
  })
  await serve.waitForStdout(/^ {2}auth .*\n/m)
  const url = /^offload serve {2}(http:\/\/127\.0\.0\.1:\d+) {2}sqlite:/m.exec(serve.stdout)?.[1]
  expect(url).toBeDefined()
  expect(serve.stdout).toMatch(/^ {2}api {6}http:\/\/127\.0\.0\.1:\d+ {2}\(http:\/\/127\.0\.0\.1:\d+\/openapi\.json; docs\/http-api\.md\)$/m)
  expect(serve.stdout).toMatch(/^ {2}auth {5}2 tokens \(read 1, write 1\)$/m)
  expect((await call(url!, 'POST', '/v1/jobs', { body: { task: 'greet' } })).status).toBe(401)
  expect((await call(url!, 'POST', '/v1/jobs', { body: { task: 'greet' }, token: 'r'.repeat(40) })).status).toBe(403)
  expect((await call(url!, 'POST', '/v1/jobs', { body: { task: 'greet' }, token: TOKEN })).status).toBe(202)
  serve.signal('SIGTERM')
  const result = await serve.finished(15_000)
  expect(result.code).toBe(0)
  expect(result.stdout).toMatch(/SIGTERM: stopping\nstopped\n$/)
})

test('serve refuses what it must before touching the store: an exposed address without tokens, bad flags, a bad tokens file', async () => {
  const db = tempDb()
  const store = `sqlite:${db}`
  const dir = tempDir()
  const badFile = join(dir, 'tokens.json')
  writeFileSync(badFile, JSON.stringify({ tokens: [{ scope: 'admin', token: 'short' }] }))
  const cases: [string[], RegExp][] = [
    [['--host', '0.0.0.0'], /^offload: refusing to listen on 0\.0\.0\.0 without API tokens: .*Configure tokens \(OFFLOAD_API_TOKENS or a tokens file\)/],
    [['--port', '70000'], /^offload: --port must be an integer from 0 to 65535, got 70000$/],
    [['--port', 'http'], /^offload: --port must be an integer, got 'http'$/],
    [['--tokens-file', join(dir, 'missing.json')], /^offload: cannot read the tokens file .*missing\.json/],
    [['--tokens-file', badFile], /the token must be 16-512 characters/],
    [['--prot', '1'], /unknown option '--prot' for 'offload serve', did you mean '--port'\?/],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(['serve', '--tasks', TASKS, '--store', store, ...args])))
  results.forEach((result, index) => {
    expect({ code: result.code, stdout: result.stdout }, cases[index]![0].join(' ')).toEqual({ code: 2, stdout: '' })
    expect(result.stderr.trim()).toMatch(cases[index]![1])
  })
  expect(existsSync(db)).toBe(false)
})

test('serve on a port in use says so and exits 2', async () => {
  const blocker = createNetServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const { port } = blocker.address() as { port: number }
  try {
    const result = await runCli(['serve', '--tasks', TASKS, '--store', `sqlite:${tempDb()}`, '--port', String(port)])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(`offload: cannot listen on 127.0.0.1:${port}: the port is in use; choose another (0 picks a free one)\n`)
  } finally {
    await new Promise((resolve) => blocker.close(resolve))
  }
})
