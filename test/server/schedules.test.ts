import { expect, test } from 'vitest'
import { serve } from './harness.js'

const READ = 'r'.repeat(32)
const ADMIN = 'a'.repeat(32)

test('PUT creates a schedule, GET lists it with its next run, DELETE removes it', async () => {
  const { request } = await serve()
  const put = await request('PUT', '/v1/schedules/nightly-greeting', {
    body: { task: 'greet', cron: '0 30 3 * * *', timezone: 'Europe/Paris', payload: { name: 'night' }, metadata: { team: 'ops' }, catchUp: 2 },
  })
  expect(put.status).toBe(200)
  expect(put.body).toMatchObject({
    name: 'nightly-greeting',
    task: 'greet',
    queue: 'greetings',
    cron: '0 30 3 * * *',
    timezone: 'Europe/Paris',
    payload: { name: 'night' },
    metadata: { team: 'ops' },
    catchUp: 2,
    paused: false,
    source: 'api',
    lastRunAt: null,
    timeoutMs: null,
  })
  const next = new Date(put.body.nextRunAt)
  expect(next.getTime()).toBeGreaterThan(Date.now())
  expect(next.getUTCMinutes()).toBe(30)

  const list = await request('GET', '/v1/schedules')
  expect(list.status).toBe(200)
  expect(list.body.schedules).toEqual([put.body])
  expect((await request('GET', '/v1/schedules/nightly-greeting')).body).toEqual(put.body)

  // The same definition again: the next run stays.
  const again = await request('PUT', '/v1/schedules/nightly-greeting', {
    body: { task: 'greet', cron: '0 30 3 * * *', timezone: 'Europe/Paris', payload: { name: 'night' }, metadata: { team: 'ops' }, catchUp: 2 },
  })
  expect(again.body.nextRunAt).toBe(put.body.nextRunAt)

  const paused = await request('POST', '/v1/schedules/nightly-greeting/pause')
  expect(paused.body.paused).toBe(true)
  expect((await request('POST', '/v1/schedules/nightly-greeting/resume')).body.paused).toBe(false)

  expect((await request('DELETE', '/v1/schedules/nightly-greeting')).status).toBe(204)
  const gone = await request('GET', '/v1/schedules/nightly-greeting')
  expect(gone.status).toBe(404)
  expect(gone.body.error).toMatchObject({ code: 'SCHEDULE_NOT_FOUND', message: "no schedule named 'nightly-greeting'" })
  expect((await request('DELETE', '/v1/schedules/nightly-greeting')).status).toBe(404)
  expect((await request('POST', '/v1/schedules/nightly-greeting/pause')).status).toBe(404)
})

test('bad schedules are 400 with a clear message, and nothing is written', async () => {
  const { request } = await serve()
  const cases: [unknown, string, RegExp][] = [
    [{ task: 'greet', cron: '0 61 * * *' }, 'INVALID_OPTION', /Invalid value for hour: 61|Invalid value for minute/],
    [{ task: 'greet', cron: '0 3 * * *', timezone: 'Nowhere/Town' }, 'INVALID_OPTION', /timezone must be an IANA time zone/],
    [{ task: 'greet', cron: '0 0 31 2 *' }, 'INVALID_OPTION', /never fires/],
    [{ task: 'gret', cron: '0 3 * * *' }, 'UNKNOWN_TASK', /did you mean 'greet'/],
    [{ task: 'greet', cron: '0 3 * * *', catchUp: true }, 'INVALID_OPTION', /catchUp must be an integer/],
    [{ task: 'greet', cron: '0 3 * * *', every: 'day' }, 'UNKNOWN_FIELD', /every/],
    [{ task: 'greet' }, 'INVALID_REQUEST', /cron/],
    [{ task: 'greet', cron: '0 3 * * *', priority: '5' }, 'INVALID_REQUEST', /priority/],
  ]
  for (const [body, code, message] of cases) {
    const answer = await request('PUT', '/v1/schedules/nightly', { body })
    expect(answer.status, JSON.stringify(body)).toBe(400)
    expect(answer.body.error.code, JSON.stringify(body)).toBe(code)
    expect(answer.body.error.message, JSON.stringify(body)).toMatch(message)
  }
  const badName = await request('PUT', '/v1/schedules/no%20spaces', { body: { task: 'greet', cron: '0 3 * * *' } })
  expect(badName.status).toBe(400)
  expect(badName.body.error.code).toBe('INVALID_NAME')
  expect((await request('GET', '/v1/schedules')).body.schedules).toEqual([])
})

test('reading schedules takes the read scope; writing them takes admin', async () => {
  const { request } = await serve({
    server: {
      tokens: [
        { name: 'dashboard', scope: 'read', token: READ },
        { name: 'ops', scope: 'admin', token: ADMIN },
      ],
    },
  })
  const body = { task: 'greet', cron: '*/5 * * * *' }
  const denied = await request('PUT', '/v1/schedules/five', { body, token: READ })
  expect(denied.status).toBe(403)
  expect(denied.body.error.details).toEqual({ required: 'admin', scope: 'read' })
  expect((await request('PUT', '/v1/schedules/five', { body, token: ADMIN })).status).toBe(200)
  expect((await request('GET', '/v1/schedules', { token: READ })).body.schedules).toHaveLength(1)
  expect((await request('DELETE', '/v1/schedules/five', { token: READ })).status).toBe(403)
  expect((await request('DELETE', '/v1/schedules/five', { token: ADMIN })).status).toBe(204)
})

test('hundreds of malformed schedules get a 4xx, never a 5xx, and a refused one writes nothing', async () => {
  const { request } = await serve()
  // Deterministic: a failure names the body that caused it, and reruns the same.
  let seed = 20261124
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const fields = ['0', '*', '*/0', '99', '-1', '1-', 'L', 'W', '?', '#', 'MON-', 'JAN/2', '1,,2', '٣', '\u0000', '*'.repeat(300)]
  const cron = (): unknown =>
    random() < 0.1 ? pick([null, 5, [], {}, '', ' ', 'x'.repeat(500)]) : Array.from({ length: Math.floor(random() * 9) }, () => pick(fields)).join(' ')
  const timezone = (): unknown => pick([undefined, 'UTC', 'Europe/Paris', 'Mars/Olympus', '', 'x'.repeat(100), 7, '../../etc/passwd', 'UTC+25', 'Etc/GMT+99'])
  for (let i = 0; i < 400; i++) {
    const body: Record<string, unknown> = { task: pick(['greet', 'gret', '', 1, 'fail']), cron: cron(), timezone: timezone() }
    if (random() < 0.3) body.catchUp = pick([true, -1, 1.5, 1001, '2', null])
    if (random() < 0.2) body.payload = pick([{ big: 'x'.repeat(2000) }, [1, 2], 'text', null])
    if (random() < 0.2) body.timeout = pick(['soon', -5, '1h', 'x'.repeat(40)])
    const name = pick(['nightly', 'bad name', 'ok.name', '..', 'x'.repeat(129), encodeURIComponent('ü')])
    const answer = await request('PUT', `/v1/schedules/${name}`, { body })
    expect(answer.status, JSON.stringify({ name, body })).toBeLessThan(500)
    if (answer.status !== 200) expect(answer.body.error.code, JSON.stringify({ name, body })).toMatch(/^[A-Z_]+$/)
    else await request('DELETE', `/v1/schedules/${name}`)
  }
  expect((await request('GET', '/v1/schedules')).body.schedules).toEqual([])
})
