import { expect, test } from 'vitest'
import type { ApiToken } from '../../src/index.js'
import { serve, work } from './harness.js'

const READ = 'r'.repeat(32)
const WRITE = 'w'.repeat(32)
const TOKENS: ApiToken[] = [
  { name: 'viewer', scope: 'read', token: READ },
  { name: 'operator', scope: 'write', token: WRITE },
]
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' }

/** Signs in and returns the cookie to send back, as a browser would. */
async function signIn(request: Awaited<ReturnType<typeof serve>>['request'], token: string): Promise<string> {
  const answer = await request('POST', '/v1/session', { body: { token }, headers: SAME_ORIGIN })
  expect(answer.status).toBe(200)
  return answer.headers.get('set-cookie')!.split(';')[0]!
}

test('signing in with a token sets an HttpOnly, SameSite=Strict session cookie that authenticates with the token\'s scope', async () => {
  const { request } = await serve({ server: { tokens: TOKENS } })
  expect((await request('GET', '/v1/session')).body).toEqual({ authenticated: false, tokensRequired: true, scope: null, name: null })

  const answer = await request('POST', '/v1/session', { body: { token: READ }, headers: SAME_ORIGIN })
  expect(answer.body).toEqual({ authenticated: true, tokensRequired: true, scope: 'read', name: 'viewer' })
  const setCookie = answer.headers.get('set-cookie')!
  expect(setCookie).toMatch(/^offload_session=[\w-]+\.\d+\.[\w-]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/)
  // The cookie never carries the token.
  expect(setCookie).not.toContain(READ)
  const cookie = setCookie.split(';')[0]!

  expect((await request('GET', '/v1/session', { headers: { cookie } })).body).toMatchObject({ authenticated: true, scope: 'read', name: 'viewer' })
  expect((await request('GET', '/v1/jobs', { headers: { cookie } })).status).toBe(200)
  // Read-only: the dashboard hides its buttons, and the API refuses anyway.
  const refused = await request('POST', '/v1/jobs', { body: { task: 'greet' }, headers: { cookie, ...SAME_ORIGIN } })
  expect(refused.status).toBe(403)
  expect(refused.body.error.code).toBe('INSUFFICIENT_SCOPE')

  const out = await request('DELETE', '/v1/session', { headers: { cookie, ...SAME_ORIGIN } })
  expect(out.status).toBe(204)
  expect(out.headers.get('set-cookie')).toBe('offload_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict')
})

test('a wrong token does not sign in; a forged or altered cookie is 401', async () => {
  const { request } = await serve({ server: { tokens: TOKENS } })
  const wrong = await request('POST', '/v1/session', { body: { token: 'x'.repeat(32) }, headers: SAME_ORIGIN })
  expect(wrong.status).toBe(401)
  expect(wrong.body.error.code).toBe('INVALID_TOKEN')
  expect(wrong.headers.get('set-cookie')).toBeNull()
  const missing = await request('POST', '/v1/session', { body: {}, headers: SAME_ORIGIN })
  expect(missing.status).toBe(400)

  const cookie = await signIn(request, READ)
  const [name, expires, signature] = cookie.slice('offload_session='.length).split('.') as [string, string, string]
  const forged = [
    // Another token's name with the viewer's signature: a privilege raise.
    `${Buffer.from('operator').toString('base64url')}.${expires}.${signature}`,
    // A later expiry.
    `${name}.${Number(expires) + 3600}.${signature}`,
    `${name}.${expires}.${signature.slice(0, -2)}AA`,
    `${name}.${expires}`,
    'garbage',
  ]
  for (const value of forged) {
    const answer = await request('GET', '/v1/jobs', { headers: { cookie: `offload_session=${value}` } })
    expect(answer.status, value).toBe(401)
    expect(answer.body.error.code).toBe('SESSION_EXPIRED')
    expect((await request('GET', '/v1/session', { headers: { cookie: `offload_session=${value}` } })).body.authenticated).toBe(false)
  }
})

test('CSRF: a signed-in request that changes something must come from the same origin', async () => {
  const { request, offload, url } = await serve({ server: { tokens: TOKENS } })
  const cookie = await signIn(request, WRITE)
  const enqueue = (headers: Record<string, string>) => request('POST', '/v1/jobs', { body: { task: 'greet', payload: { name: 'x' } }, headers: { cookie, ...headers } })

  const attempts: Record<string, string>[] = [{}, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }]
  for (const headers of attempts) {
    const answer = await enqueue(headers)
    expect(answer.status, JSON.stringify(headers)).toBe(403)
    expect(answer.body.error.code).toBe('CROSS_SITE_REQUEST')
  }
  expect(await offload.countJobs()).toEqual([])

  expect((await enqueue(SAME_ORIGIN)).status).toBe(202)
  // Origin alone (a browser without Sec-Fetch-Site) is checked against Host.
  expect((await enqueue({ origin: new URL(url).origin })).status).toBe(202)
  // Reads need no proof of origin: they change nothing.
  expect((await request('GET', '/v1/jobs', { headers: { cookie, 'sec-fetch-site': 'cross-site' } })).status).toBe(200)
  // A bearer token is never attached by a browser on its own: no origin check.
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' }, token: WRITE })).status).toBe(202)
})

test('a server without tokens refuses state-changing requests from other sites, and lets scripts and curl through', async () => {
  const { request, offload, url } = await serve()
  expect((await request('GET', '/v1/session')).body).toEqual({ authenticated: true, tokensRequired: false, scope: 'admin', name: null })
  const attempts: Record<string, string>[] = [{ 'sec-fetch-site': 'cross-site' }, { origin: 'http://attacker.localhost:8080' }]
  for (const headers of attempts) {
    const answer = await request('POST', '/v1/jobs', { body: { task: 'greet' }, headers })
    expect(answer.status).toBe(403)
    expect(answer.body.error.code).toBe('CROSS_SITE_REQUEST')
  }
  expect((await request('POST', '/v1/queues/greetings/pause', { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
  expect(await offload.countJobs()).toEqual([])
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' }, headers: { origin: new URL(url).origin } })).status).toBe(202)
  expect((await request('POST', '/v1/jobs', { body: { task: 'greet' } })).status).toBe(202)
})

test('bulk actions: each job answers for itself, the rest go on', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const failed = await Promise.all([1, 2, 3].map((n) => offload.enqueue('fail', { reason: `no ${n}` })))
  for (const job of failed) await expect(job.result()).rejects.toThrow()
  const done = await offload.enqueue('greet', { name: 'a' })
  await done.result()
  const ids = [...failed.map((job) => job.id), done.id, '00000000-0000-7000-8000-000000000000']

  const retried = await request('POST', '/v1/jobs/actions', { body: { action: 'retry', ids } })
  expect(retried.status).toBe(200)
  expect(retried.body.results.map((result: { ok: boolean }) => result.ok)).toEqual([true, true, true, false, false])
  expect(retried.body.results[0]).toEqual({ id: ids[0], ok: true, state: 'queued' })
  expect(retried.body.results[3].error.code).toBe('INVALID_STATE')
  expect(retried.body.results[4].error.code).toBe('JOB_NOT_FOUND')
  for (const job of failed) await expect(job.result()).rejects.toThrow()

  const deleted = await request('POST', '/v1/jobs/actions', { body: { action: 'delete', ids: [done.id] } })
  expect(deleted.body.results).toEqual([{ id: done.id, ok: true }])
  expect(await offload.getJob(done.id)).toBeUndefined()

  for (const body of [{ action: 'retry', ids: [] }, { action: 'explode', ids: [done.id] }, { action: 'retry', ids: [done.id, done.id] }, { action: 'retry' }]) {
    const answer = await request('POST', '/v1/jobs/actions', { body })
    expect(answer.status, JSON.stringify(body)).toBe(400)
  }
})

test('GET /v1/queues/activity: per-minute counts for the last hour', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const jobs = await Promise.all([1, 2].map((n) => offload.enqueue('greet', { name: String(n) })))
  await Promise.all(jobs.map((job) => job.result()))
  const failing = await offload.enqueue('fail')
  await expect(failing.result()).rejects.toThrow()
  let body: any
  await expect
    .poll(async () => {
      body = (await request('GET', '/v1/queues/activity')).body
      return body.queues.map((queue: { queue: string }) => queue.queue)
    })
    .toEqual(['default', 'greetings'])
  expect(body.bucketSeconds).toBe(60)
  expect(Date.parse(body.start)).toBeLessThanOrEqual(Date.now() - 59 * 60_000)
  const total = (minutes: number[]) => minutes.reduce((sum, n) => sum + n, 0)
  await expect.poll(async () => total((await request('GET', '/v1/queues/activity')).body.queues[1].completed)).toBe(2)
  const [failures, greetings] = (await request('GET', '/v1/queues/activity')).body.queues
  expect(greetings.completed).toHaveLength(60)
  expect(total(greetings.enqueued)).toBe(2)
  expect(total(failures.failed)).toBe(1)
  // The work happened in the last minute or two: the newest buckets hold it.
  expect(greetings.completed.at(-1) + greetings.completed.at(-2)).toBe(2)
})
