import { connect } from 'node:net'
import { expect, test } from 'vitest'
import { serve } from './harness.js'

const errorOf = (answer: { status: number; body: any }) => ({ status: answer.status, code: answer.body?.error?.code, message: answer.body?.error?.message })

test('a body over bodyLimit is 413 BODY_TOO_LARGE, whether or not it says its length', async () => {
  const { request, url, offload } = await serve({ server: { bodyLimit: 4096 } })
  const big = JSON.stringify({ task: 'greet', payload: { text: 'x'.repeat(5000) } })
  const answer = await request('POST', '/v1/jobs', { body: big, headers: { 'content-type': 'application/json' } })
  expect(errorOf(answer)).toEqual({ status: 413, code: 'BODY_TOO_LARGE', message: 'the body is over the 4096-byte limit' })
  expect(answer.body.error.details).toEqual({ limit: 4096 })

  // Chunked, so the server only finds out while reading.
  const chunked = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big))
        controller.close()
      },
    }),
    duplex: 'half',
  } as RequestInit)
  expect(chunked.status).toBe(413)
  expect(((await chunked.json()) as any).error.code).toBe('BODY_TOO_LARGE')
  expect(await offload.countJobs()).toEqual([])
})

test('the default body limit is 1 MiB', async () => {
  const { request } = await serve()
  const answer = await request('POST', '/v1/jobs', { body: { task: 'greet', payload: 'x'.repeat(1024 * 1024) } })
  expect(errorOf(answer)).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE', message: 'the body is over the 1048576-byte limit' })
})

test('only JSON bodies: another content type is 415, no content type with a body too', async () => {
  const { request } = await serve()
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
    const answer = await request('POST', '/v1/jobs', { body: 'task=greet', headers: { 'content-type': type } })
    expect(errorOf(answer), type).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json' })
  }
  const charset = await request('POST', '/v1/jobs', { body: '{"task":"greet"}', headers: { 'content-type': 'application/json; charset=utf-8' } })
  expect(charset.status).toBe(202)
})

test('malformed JSON, invalid UTF-8 and prototype-poisoning keys are 400 INVALID_JSON', async () => {
  const { request, offload } = await serve()
  const json = { 'content-type': 'application/json' }
  const cases: [string | Uint8Array, RegExp][] = [
    ['{"task":', /^the body is not valid JSON: /],
    ['{"task":"greet",}', /^the body is not valid JSON: /],
    [new Uint8Array([0x7b, 0x22, 0x74, 0x61, 0x73, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), /^the body is not valid UTF-8$/],
    ['{"task":"greet","__proto__":{"admin":true}}', /__proto__ or constructor\.prototype key, which is refused/],
    ['{"task":"greet","payload":{"constructor":{"prototype":{"x":1}}}}', /__proto__ or constructor\.prototype key, which is refused/],
  ]
  for (const [body, message] of cases) {
    const answer = await request('POST', '/v1/jobs', { body, headers: json })
    expect(errorOf(answer)).toEqual({ status: 400, code: 'INVALID_JSON', message: expect.stringMatching(message) })
  }
  const empty = await request('POST', '/v1/jobs', { body: '', headers: json })
  expect(errorOf(empty)).toEqual({ status: 400, code: 'INVALID_REQUEST', message: 'body must be object' })
  expect(await offload.countJobs()).toEqual([])
})

test('bodies are taken as sent: no type coercion, nothing dropped; query strings are coerced', async () => {
  const { request } = await serve()
  const cases: [unknown, string][] = [
    [{ task: 'greet', priority: '5' }, 'body.priority must be integer'],
    [{ task: 'greet', attempts: 1.5 }, 'body.attempts must be integer'],
    [{ task: 'greet', attempts: true }, 'body.attempts must be integer'],
    [{ task: 7 }, 'body.task must be string'],
    [{ task: 'greet', metadata: [] }, 'body.metadata must be object'],
    [{ task: 'greet', delay: -5 }, 'body.delay must be >= 0'],
    [{ task: 'greet', runAt: 'tomorrow' }, 'body.runAt must match format "date-time"'],
    [{ task: 'greet', priority: 1e300 }, 'body.priority must be <= 1000000'],
    [[{ task: 'greet' }], 'body must be object'],
    [null, 'body must be object'],
  ]
  for (const [body, message] of cases) {
    const answer = await request('POST', '/v1/jobs', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    expect(errorOf(answer), JSON.stringify(body)).toEqual({ status: 400, code: 'INVALID_REQUEST', message })
  }
  const unknown = await request('POST', '/v1/jobs', { body: { task: 'greet', paylod: {} } })
  expect(unknown.body.error).toEqual({
    code: 'UNKNOWN_FIELD',
    message: "unknown field 'paylod' in body, did you mean 'payload'?",
    details: { in: 'body', path: 'body', field: 'paylod', suggestion: 'payload' },
  })
  const missing = await request('POST', '/v1/jobs', { body: { payload: {} } })
  expect(errorOf(missing)).toEqual({ status: 400, code: 'INVALID_REQUEST', message: "body needs the field 'task'" })
  // `?limit=2` is text, and means 2.
  expect((await request('GET', '/v1/jobs?limit=2')).status).toBe(200)
  expect(errorOf(await request('GET', '/v1/jobs?limit=two'))).toEqual({ status: 400, code: 'INVALID_REQUEST', message: 'query.limit must be integer' })
})

test('unknown routes are 404 and wrong methods 405 with Allow, in the error format', async () => {
  const { request } = await serve()
  const missing = await request('GET', '/v2/jobs')
  expect(missing.status).toBe(404)
  expect(missing.body.error).toEqual({ code: 'NOT_FOUND', message: 'no endpoint GET /v2/jobs; /openapi.json lists them', details: { method: 'GET', path: '/v2/jobs' } })
  const method = await request('PUT', '/v1/jobs/01a20000-0000-7000-8000-000000000000')
  expect(method.status).toBe(405)
  expect(method.headers.get('allow')).toBe('DELETE, GET, HEAD')
  expect(method.body.error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', details: { allowed: ['DELETE', 'GET', 'HEAD'] } })
  const batch = await request('GET', '/v1/jobs/batch')
  // /v1/jobs/batch is also the shape of /v1/jobs/:id, so GET there asks for a job called "batch".
  expect(errorOf(batch)).toMatchObject({ status: 404, code: 'JOB_NOT_FOUND' })
  expect(errorOf(await request('GET', '/v1/jobs/%E0%A4%A'))).toEqual({ status: 400, code: 'INVALID_URL', message: 'the URL is malformed (a bad percent-encoding?)' })
})

test('what Node refuses before the server sees it is answered in the error format too', async () => {
  const { url } = await serve()
  const { port } = new URL(url)
  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1')
      let answer = ''
      socket.on('data', (chunk) => (answer += chunk))
      socket.on('end', () => resolve(answer))
      socket.on('error', reject)
      socket.write(text)
    })
  const garbage = await raw('NOT HTTP AT ALL\r\n\r\n')
  expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
  expect(JSON.parse(garbage.split('\r\n\r\n')[1]!)).toEqual({ error: { code: 'INVALID_REQUEST', message: 'the request is not valid HTTP/1.1', details: {} } })
  const headers = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  expect(headers).toMatch(/^HTTP\/1\.1 431 /)
  expect(headers).toContain('"code":"HEADERS_TOO_LARGE"')
})

test('health checks: /healthz and /readyz', async () => {
  const { request } = await serve()
  expect(await request('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
  expect(await request('GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ready' } })
})

test('/readyz is 503 STORE_UNAVAILABLE when the store does not answer', async () => {
  const served = await serve()
  await served.offload.store.close()
  const answer = await served.request('GET', '/readyz')
  expect(answer.status).toBe(503)
  expect(answer.headers.get('retry-after')).toBe('1')
  expect(answer.body.error.code).toMatch(/^(STORE_UNAVAILABLE|CLOSED)$/)
})
