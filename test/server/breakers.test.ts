import { expect, test } from 'vitest'
import { defineTask } from '../../src/index.js'
import { samples } from '../support/prometheus.js'
import { serve, TASKS, work } from './harness.js'

const READ = 'r'.repeat(32)
const ADMIN = 'a'.repeat(32)
const TOKENS = [
  { name: 'dashboard', scope: 'read', token: READ },
  { name: 'ops', scope: 'admin', token: ADMIN },
] as const

/** A task whose downstream is down for good: two failed attempts open its breaker for an hour. */
const flaky = defineTask('flaky', {
  attempts: 1,
  breaker: { minVolume: 2, cooldown: '1h' },
  run: () => {
    throw new Error('downstream unavailable')
  },
})

test('GET /v1/breakers and /metrics show a breaker open; POST /v1/breakers/:task/reset (admin) closes it', async () => {
  const { request, offload } = await serve({ config: { tasks: [...TASKS, flaky] }, server: { tokens: TOKENS, metrics: { processMetrics: false } } })
  const empty = await request('GET', '/v1/breakers', { token: READ })
  expect(empty).toMatchObject({ status: 200, body: { breakers: [] } })

  await work(offload)
  for (let i = 0; i < 2; i++) {
    const { body: job } = await request('POST', '/v1/jobs', { body: { task: 'flaky' }, token: ADMIN })
    expect((await request('GET', `/v1/jobs/${job.id}?wait=30s`, { token: READ })).body.state).toBe('failed')
  }
  // The outcomes are recorded just after the jobs' finishes.
  await expect.poll(async () => (await request('GET', '/v1/breakers', { token: READ })).body.breakers[0]?.state, { timeout: 10_000 }).toBe('open')
  const { body } = await request('GET', '/v1/breakers', { token: READ })
  expect(body.breakers).toEqual([
    {
      task: 'flaky',
      group: null,
      state: 'open',
      failureRate: 1,
      volume: expect.any(Number),
      openedAt: expect.any(String),
      cooldownUntil: expect.any(String),
      probesInFlight: 0,
      settings: { threshold: 0.5, minVolume: 2, windowMs: 60_000, cooldownMs: 3_600_000, probes: 1 },
      transitions: { closed: 0, open: 1, half_open: 0 },
      updatedAt: expect.any(String),
    },
  ])
  expect(Date.parse(body.breakers[0].cooldownUntil) - Date.parse(body.breakers[0].openedAt)).toBe(3_600_000)

  const metrics = samples((await request('GET', '/metrics', { token: READ })).body)
  expect(metrics.get('offload_breaker_state{task="flaky",group=""}')).toBe(2)
  expect(metrics.get('offload_breaker_transitions_total{task="flaky",group="",to="open"}')).toBe(1)
  expect(metrics.get('offload_breaker_transitions_total{task="flaky",group="",to="closed"}')).toBe(0)

  // Resetting is an admin's.
  const refused = await request('POST', '/v1/breakers/flaky/reset', { token: READ })
  expect(refused).toMatchObject({ status: 403, body: { error: { code: 'INSUFFICIENT_SCOPE' } } })
  const reset = await request('POST', '/v1/breakers/flaky/reset', { token: ADMIN })
  expect(reset).toMatchObject({ status: 200, body: { task: 'flaky', group: null, reset: 1 } })
  expect((await request('GET', '/v1/breakers', { token: READ })).body.breakers[0]).toMatchObject({
    state: 'closed',
    volume: 0,
    openedAt: null,
    cooldownUntil: null,
    transitions: { closed: 1, open: 1, half_open: 0 },
  })
  const after = samples((await request('GET', '/metrics', { token: READ })).body)
  expect(after.get('offload_breaker_state{task="flaky",group=""}')).toBe(0)
  expect(after.get('offload_breaker_transitions_total{task="flaky",group="",to="closed"}')).toBe(1)
})

test('POST /v1/breakers/:task/reset: bad input is a 4xx JSON error and changes nothing', async () => {
  const { request } = await serve({ config: { tasks: [...TASKS, flaky] } })
  const cases: [path: string, body: unknown, status: number, code: string][] = [
    ['/v1/breakers/flaky/reset', undefined, 404, 'BREAKER_NOT_FOUND'],
    ['/v1/breakers/flaky/reset', { group: 'acme' }, 404, 'BREAKER_NOT_FOUND'],
    ['/v1/breakers/bad%20name/reset', undefined, 400, 'INVALID_NAME'],
    ['/v1/breakers/flaky/reset', { grop: 'acme' }, 400, 'UNKNOWN_FIELD'],
    ['/v1/breakers/flaky/reset', { group: 5 }, 400, 'INVALID_REQUEST'],
    ['/v1/breakers/flaky/reset', { group: '' }, 400, 'INVALID_REQUEST'],
    ['/v1/breakers/flaky/reset', '[1', 400, 'INVALID_JSON'],
  ]
  for (const [path, body, status, code] of cases) {
    const answer = await request('POST', path, body === '[1' ? { body, headers: { 'content-type': 'application/json' } } : { body })
    expect({ path, body, status: answer.status, code: answer.body?.error?.code }).toEqual({ path, body, status, code })
    expect(answer.body.error).toEqual({ code, message: expect.any(String), details: expect.any(Object) })
  }
  expect((await request('GET', '/v1/breakers')).body.breakers).toEqual([])
})
