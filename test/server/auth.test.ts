import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { createOffload, loadApiTokens, startServer, type ApiToken } from '../../src/index.js'
import { tempDb, tempDir } from '../support/temp.js'
import { serve } from './harness.js'

const READ = 'r'.repeat(32)
const WRITE = 'w'.repeat(32)
const ADMIN = 'a'.repeat(32)
const TOKENS: ApiToken[] = [
  { name: 'dashboard', scope: 'read', token: READ },
  { name: 'producer', scope: 'write', token: WRITE },
  { name: 'ops', scope: 'admin', token: ADMIN },
]

test('with tokens, a request without one is 401 MISSING_TOKEN, an unknown one 401 INVALID_TOKEN, both with WWW-Authenticate', async () => {
  const { request, offload } = await serve({ server: { tokens: TOKENS } })
  const none = await request('POST', '/v1/jobs', { body: { task: 'greet' } })
  expect(none.status).toBe(401)
  expect(none.headers.get('www-authenticate')).toBe('Bearer realm="offload"')
  expect(none.body.error).toEqual({ code: 'MISSING_TOKEN', message: 'this endpoint needs an API token: send Authorization: Bearer <token>, or sign in to the dashboard', details: {} })
  const basic = await request('GET', '/v1/jobs', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  expect(basic.body.error).toMatchObject({ code: 'MISSING_TOKEN', message: 'the Authorization header must be Bearer <token>' })
  const wrong = await request('GET', '/v1/jobs', { token: 'x'.repeat(32) })
  expect(wrong.status).toBe(401)
  expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="offload", error="invalid_token"')
  expect(wrong.body.error.code).toBe('INVALID_TOKEN')
  // A prefix of a real token is just as unknown.
  expect((await request('GET', '/v1/jobs', { token: READ.slice(0, 31) })).status).toBe(401)
  expect(await offload.countJobs()).toEqual([])
})

test('scopes: read sees, write also enqueues and steers jobs, admin also pauses queues; too little is 403 INSUFFICIENT_SCOPE', async () => {
  const { request } = await serve({ server: { tokens: TOKENS } })
  expect((await request('GET', '/v1/jobs', { token: READ })).status).toBe(200)
  expect((await request('GET', '/v1/queues', { token: READ })).status).toBe(200)

  const denied = await request('POST', '/v1/jobs', { body: { task: 'greet' }, token: READ })
  expect(denied.status).toBe(403)
  expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="offload", error="insufficient_scope", scope="write"')
  expect(denied.body.error).toEqual({
    code: 'INSUFFICIENT_SCOPE',
    message: "this endpoint needs a token with the 'write' scope; dashboard has 'read'",
    details: { required: 'write', scope: 'read' },
  })
  const created = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } }, token: WRITE })
  expect(created.status).toBe(202)
  expect((await request('POST', `/v1/jobs/${created.body.id}/cancel`, { token: READ })).status).toBe(403)
  expect((await request('POST', `/v1/jobs/${created.body.id}/cancel`, { token: WRITE })).status).toBe(200)
  expect((await request('DELETE', `/v1/jobs/${created.body.id}`, { token: READ })).status).toBe(403)

  expect((await request('POST', '/v1/queues/greetings/pause', { token: WRITE })).body.error.code).toBe('INSUFFICIENT_SCOPE')
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' }, token: ADMIN })).status).toBe(202)
})

test('health checks and the OpenAPI document are public; unknown routes are 404 without a token', async () => {
  const { request } = await serve({ server: { tokens: TOKENS } })
  expect((await request('GET', '/healthz')).status).toBe(200)
  expect((await request('GET', '/readyz')).status).toBe(200)
  expect((await request('GET', '/openapi.json')).status).toBe(200)
  expect((await request('GET', '/nowhere')).status).toBe(404)
})

test('the token is checked before the body is read: no token, no parsing', async () => {
  const { request } = await serve({ server: { tokens: TOKENS } })
  const answer = await request('POST', '/v1/jobs', { body: '{not json', headers: { 'content-type': 'application/json' } })
  expect(answer.body.error.code).toBe('MISSING_TOKEN')
})

test('without tokens every endpoint is open', async () => {
  const { request } = await serve({ server: { tokens: [] } })
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' } })).status).toBe(202)
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' }, token: 'anything-at-all-really' })).status).toBe(202)
})

test('the per-token rate limit answers 429 RATE_LIMITED with Retry-After, per token', async () => {
  const { request } = await serve({ server: { tokens: TOKENS, rateLimit: { max: 3, window: '1h' } } })
  for (let i = 0; i < 3; i++) expect((await request('GET', '/v1/jobs', { token: READ })).status).toBe(200)
  const limited = await request('GET', '/v1/jobs', { token: READ })
  expect(limited.status).toBe(429)
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1100)
  expect(limited.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 3, windowMs: 3_600_000 } })
  expect(limited.body.error.message).toMatch(/^dashboard is over its rate limit of 3 requests per 3600000 ms; retry after \d+s$/)
  // Another token has its own budget; public endpoints spend none.
  expect((await request('GET', '/v1/jobs', { token: WRITE })).status).toBe(200)
  expect((await request('GET', '/healthz')).status).toBe(200)
})

test('rateLimit: false turns the limit off', async () => {
  const { request } = await serve({ server: { tokens: TOKENS, rateLimit: false } })
  const answers = await Promise.all(Array.from({ length: 50 }, () => request('GET', '/healthz', { token: READ })))
  expect(answers.every((answer) => answer.status === 200)).toBe(true)
  const jobs = await Promise.all(Array.from({ length: 20 }, () => request('GET', '/v1/jobs?limit=1', { token: READ })))
  expect(jobs.every((answer) => answer.status === 200)).toBe(true)
})

test('startServer refuses a non-loopback host without tokens, and listens there with them', async () => {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, logger: false })
  try {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      await expect(startServer(offload, { host, port: 0, tokens: [] })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining(`refusing to listen on ${host} without API tokens`),
        details: { option: 'host', host },
      })
    }
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      const server = await startServer(offload, { host, port: 0, tokens: [], logger: false }).catch((error: { code?: string }) => error)
      // ::1 may not exist on this machine; the refusal is what this is about.
      if ('url' in server) await server.close()
      else expect(server.code).not.toBe(undefined)
    }
    const exposed = await startServer(offload, { host: '0.0.0.0', port: 0, tokens: TOKENS, logger: false })
    expect(exposed.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/)
    await exposed.close()
  } finally {
    await offload.close()
  }
})

test('server options are checked at start, with did-you-mean', async () => {
  const offload = createOffload({ store: 'sqlite::memory:', logger: false })
  try {
    await expect(startServer(offload, { prot: 80 } as never)).rejects.toMatchObject({ code: 'UNKNOWN_OPTION', message: "unknown option 'prot' in the server options, did you mean 'port'?" })
    await expect(startServer(offload, { port: 70_000 })).rejects.toMatchObject({ message: 'port must be an integer from 0 to 65535, got 70000' })
    await expect(startServer(offload, { tokens: [{ token: 'short', scope: 'read' }] })).rejects.toMatchObject({ message: expect.stringMatching(/the token must be 16-512 characters/) })
    await expect(startServer(offload, { tokens: [{ token: READ, scope: 'reed' as never }] })).rejects.toMatchObject({
      message: "tokens[0].scope must be one of read, write, admin, got \"reed\"; did you mean 'read'?",
    })
    await expect(startServer(offload, { tokens: [{ token: READ, scope: 'read' }, { token: READ, scope: 'admin' }] })).rejects.toMatchObject({
      message: 'tokens[1] (token-2) repeats a token given before it',
    })
    // Checked even when there are no tokens to apply it to: a typo must not wait for the day tokens come.
    await expect(startServer(offload, { rateLimit: { max: 0 } })).rejects.toMatchObject({ message: 'rateLimit.max must be an integer ≥ 1, got 0' })
    await expect(startServer(offload, { rateLimit: { max: 5, windw: '1s' } as never })).rejects.toMatchObject({ code: 'UNKNOWN_OPTION' })
    await expect(startServer(offload, { idempotencyTtl: 'a day' })).rejects.toMatchObject({ message: expect.stringMatching(/^idempotencyTtl must be a duration/) })
    // The event streams' and metrics' own options are checked by their routes, at start too.
    await expect(startServer(offload, { events: { heartbeat: 5 } as never })).rejects.toMatchObject({ code: 'UNKNOWN_OPTION', message: expect.stringContaining("did you mean 'heartbeatMs'?") })
  } finally {
    await offload.close()
  }
})

test('loadApiTokens reads OFFLOAD_API_TOKENS (scope:token,…) and a tokens file, together', () => {
  const file = join(tempDir(), 'tokens.json')
  writeFileSync(file, JSON.stringify({ tokens: [{ name: 'ci', scope: 'write', token: WRITE }] }))
  expect(loadApiTokens({ env: `read:${READ}, admin:${ADMIN}`, file })).toEqual([
    { name: 'env-1', scope: 'read', token: READ },
    { name: 'env-2', scope: 'admin', token: ADMIN },
    { name: 'ci', scope: 'write', token: WRITE },
  ])
  expect(() => loadApiTokens({ env: READ })).toThrow('OFFLOAD_API_TOKENS entry 1 must be scope:token')
  expect(() => loadApiTokens({ env: `read:${READ}`, file: join(tempDir(), 'missing.json') })).toThrow(/cannot read the tokens file .*missing\.json/)
  writeFileSync(file, JSON.stringify({ tokens: [{ name: 'ci', scopes: 'write', token: WRITE }] }))
  expect(() => loadApiTokens({ file })).toThrow("unknown option 'scopes' in " + `${file}: tokens[0], did you mean 'scope'?`)
  writeFileSync(file, JSON.stringify({ tokens: [{ scope: 'write', token: WRITE }] }))
  expect(() => loadApiTokens({ env: `read:${WRITE}`, file })).toThrow('API tokens[1] (token-1) repeats a token given before it')
})
