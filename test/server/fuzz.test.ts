/**
 * Bad input, at volume: at least 10,000 malformed requests against a real listening server on a
 * real SQLite file — random and truncated JSON, wrong types, huge strings and numbers, __proto__
 * keys, invalid UTF-8, wrong content types, bad ids and paths, bodies cut short on the socket —
 * and not one may get a 5xx or write a row. Every request is built to be refused (an unknown
 * task, a bad field, a wrong type…), so "nothing written" is exact: no job, no event, no paused
 * queue. The PRNG is seeded (FUZZ_SEED=<n> replays a run), each failure names its request, and
 * FUZZ_VERBOSE=1 prints how many answers had each status.
 */
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { expect, test } from 'vitest'
import { createOffload, startServer } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { TASKS } from './harness.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_123)
const HTTP_REQUESTS = 10_000
const RAW_REQUESTS = 600
const CONCURRENCY = 24

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Every UTF-8 byte percent-encoded (encodeURIComponent throws on a lone surrogate). */
function encodeBytes(text: string): string {
  return [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')
}

interface Malformed {
  kind: string
  method: string
  path: string
  headers: Record<string, string>
  body?: Buffer
}

class Generator {
  constructor(private readonly random: () => number) {}

  int(max: number): number {
    return Math.floor(this.random() * max)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  chance(p: number): boolean {
    return this.random() < p
  }

  string(maxLength = 20): string {
    const alphabets = ['abcdefghijklmnopqrstuvwxyz', '0123456789', ' .:_-/\\"\'{}[],', 'éß漢字🙂\u0000\u0007\u2028\ud800', '%&?#=+;']
    let text = ''
    const length = this.int(maxLength + 1)
    for (let i = 0; i < length; i++) text += this.pick([...this.pick(alphabets)])
    return text
  }

  number(): number {
    return this.pick([0, -1, 1.5, -0, 2 ** 53 + 1, 1e21, -1e308, 5e-324, this.int(1e9) - 5e8, this.random() * 1e6])
  }

  /** Any JSON value, nested up to `depth`. */
  json(depth = 3): unknown {
    const kind = this.int(depth > 0 ? 7 : 5)
    switch (kind) {
      case 0:
        return null
      case 1:
        return this.chance(0.5)
      case 2:
        return this.number()
      case 3:
      case 4:
        return this.string()
      case 5:
        return Array.from({ length: this.int(4) }, () => this.json(depth - 1))
      default:
        return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.string(8), this.json(depth - 1)]))
    }
  }

  /** A value of some other JSON type than `type`. */
  wrongType(type: 'string' | 'integer' | 'object'): unknown {
    const values = {
      string: [5, true, null, [], {}, 1.5],
      integer: ['5', true, null, [], {}, 1.5, '1e3', Number('1e400'), Number('-1e400')],
      object: ['x', 5, true, [], [1, 2]],
    }[type]
    return this.pick(values)
  }

  /** A body that would enqueue a job, to break in exactly one way. */
  validEnqueue(): Record<string, unknown> {
    const body: Record<string, unknown> = { task: this.pick(['greet', 'gate', 'fail']), payload: this.json(2) }
    if (this.chance(0.3)) body.priority = this.int(10)
    if (this.chance(0.3)) body.delay = this.pick(['1s', '5m', 250])
    if (this.chance(0.2)) body.key = this.string(10) || 'k'
    if (this.chance(0.2)) body.metadata = { note: this.string(5) }
    return body
  }

  /** A valid body with one defect that the server must refuse. */
  brokenEnqueue(): { kind: string; body: unknown } {
    const body = this.validEnqueue()
    switch (this.int(12)) {
      case 0:
        return { kind: 'unknown task', body: { ...body, task: this.pick(['', 'gret', 'greet ', 'x'.repeat(200), this.string(30) + '!', '__proto__']) } }
      case 1:
        return { kind: 'wrong type: task', body: { ...body, task: this.wrongType('string') } }
      case 2:
        return { kind: 'wrong type: priority', body: { ...body, priority: this.wrongType('integer') } }
      case 3:
        return { kind: 'wrong type: attempts', body: { ...body, attempts: this.pick([0, -1, 1_000_001, ...[this.wrongType('integer')]]) } }
      case 4:
        return { kind: 'wrong type: metadata', body: { ...body, metadata: this.wrongType('object') } }
      case 5:
        return { kind: 'unknown field', body: { ...body, [this.pick(['priorty', 'payloads', 'Task', 'extra', 'constructor', 'toString', this.string(6) + 'X'])]: this.json(1) } }
      case 6:
        return { kind: 'bad delay', body: { ...body, delay: this.pick(['soon', '-5s', '1e5', '99999999999d', '', 'x'.repeat(40), -1, 1.5, 1e300, true]) } }
      case 7:
        return { kind: 'bad runAt', body: { ...body, delay: undefined, runAt: this.pick(['tomorrow', '2030-13-01T00:00:00Z', '2030-01-01', 12345, '', '2030-02-30T00:00:00Z']) } }
      case 8:
        return { kind: 'bad queue', body: { ...body, queue: this.pick(['has space', '.dot', '', 'x'.repeat(129), 'ü', 'a/b', 5]) } }
      case 9:
        return { kind: 'bad key', body: { ...body, key: this.pick(['', 'k'.repeat(513), 7, null]) } }
      case 10:
        return { kind: 'bad webhook', body: { ...body, webhook: this.pick(['ftp://x', 'not a url', 'https://user:pw@x.example', '', 'https://x.example/' + 'a'.repeat(3000), 9]) } }
      default:
        return { kind: 'not an object', body: this.pick([[body], 'greet', 42, null, true, []]) }
    }
  }

  /** A job id that is malformed or names no job. */
  badId(): string {
    return this.pick([
      '01a20000-0000-7000-8000-000000000000',
      'not-a-job',
      encodeBytes(this.string(12)) || 'x',
      '%00',
      '..%2F..%2Fetc%2Fpasswd',
      'x'.repeat(this.pick([64, 65, 101, 500])),
      '%E0%A4%A',
      '%F0%9F%99%82',
      'null',
      '__proto__',
    ])
  }

  request(): Malformed {
    const json = { 'content-type': 'application/json' }
    const send = (kind: string, method: string, path: string, body: unknown, headers: Record<string, string> = json): Malformed => ({
      kind,
      method,
      path,
      headers,
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    })
    switch (this.int(16)) {
      case 0:
      case 1:
      case 2: {
        const { kind, body } = this.brokenEnqueue()
        return send(kind, 'POST', '/v1/jobs', body)
      }
      case 3: {
        // A valid body cut short is never valid JSON: an object needs its closing brace.
        const text = JSON.stringify(this.validEnqueue())
        return send('truncated JSON', 'POST', this.pick(['/v1/jobs', '/v1/jobs/batch']), text.slice(0, this.int(text.length)))
      }
      case 4: {
        const bytes = Buffer.from(Array.from({ length: this.int(200) + 1 }, () => this.int(256)))
        return send('random bytes', 'POST', '/v1/jobs', bytes)
      }
      case 5: {
        // Invalid UTF-8 inside an otherwise fine body: the server must not store U+FFFD for it.
        const text = JSON.stringify({ task: 'greet', payload: { name: 'MARK' } })
        const [before, after] = text.split('MARK') as [string, string]
        const bad = this.pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]])
        return send('invalid UTF-8', 'POST', '/v1/jobs', Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]))
      }
      case 6: {
        const body = this.validEnqueue()
        const poison = this.pick([
          `{"__proto__":{"polluted":true},"task":"greet"}`,
          `{"task":"greet","payload":{"__proto__":{"x":1}}}`,
          `{"task":"greet","payload":{"constructor":{"prototype":{"x":1}}}}`,
          `{"task":"greet","metadata":{"a":[{"__proto__":null}]}}`,
          JSON.stringify(body).replace('{', '{"__proto__":{},'),
        ])
        return send('prototype poisoning', 'POST', '/v1/jobs', poison)
      }
      case 7: {
        const body = JSON.stringify({ task: 'greet', payload: { name: 'x' } })
        const type = this.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', 'json', '*/*', ''])
        return send('wrong content type', 'POST', this.pick(['/v1/jobs', '/v1/jobs/batch']), body, type === '' ? {} : { 'content-type': type })
      }
      case 8: {
        const huge = this.pick([
          { task: 'g'.repeat(100_000) },
          { task: 'greet', priority: Number('123456789012345678901234567890') },
          { task: 'greet', attempts: 1e308 },
          { task: 'x'.repeat(5000), payload: 'y'.repeat(200_000) },
          { task: 'greet', key: 'k'.repeat(100_000) },
          { task: 'greet', delay: 9 ** 99 },
        ])
        const text = this.chance(0.3) ? '{"task":"greet","priority":1' + '0'.repeat(400) + '}' : JSON.stringify(huge)
        return send('huge values', 'POST', '/v1/jobs', text)
      }
      case 9: {
        const id = this.badId()
        const [method, suffix] = this.pick([
          ['GET', ''],
          ['GET', `?wait=${this.pick(['soon', '-1', '1e9', '', '%00', '30x'])}`],
          ['DELETE', ''],
          ['POST', '/cancel'],
          ['POST', '/retry'],
          ['GET', '/events'],
          ['PATCH', ''],
        ] as const)
        return send('bad id', method, `/v1/jobs/${id}${suffix}`, method === 'POST' && this.chance(0.5) ? this.json(2) : undefined)
      }
      case 10: {
        const jobs = Array.from({ length: this.int(5) + 1 }, () => this.validEnqueue())
        const broken = this.brokenEnqueue()
        jobs.splice(this.int(jobs.length + 1), 0, broken.body as Record<string, unknown>)
        const body = this.pick([
          { jobs },
          { jobs, extra: 1 },
          { jobs: this.validEnqueue() },
          { jobs: [] },
          { jobs: Array.from({ length: 1001 }, () => ({ task: 'greet' })) },
          { job: jobs },
        ])
        return send(`batch: ${broken.kind}`, 'POST', '/v1/jobs/batch', body)
      }
      case 11: {
        const query = this.pick([
          `limit=${this.pick(['0', '1001', 'abc', '-5', '1.5', '1e3', ''])}`,
          `state=${this.pick(['runing', 'QUEUED', '', 'queued,,,x', '%00'])}`,
          `cursor=${this.pick(['!', 'x'.repeat(65), '%00', '..'])}`,
          `queue=${this.pick(['a%20b', '.x', 'x'.repeat(300)])}`,
          `${this.pick(['limt', '__proto__', 'constructor', 'state[]'])}=1`,
          `limit=1&limit=2`,
        ])
        return send('bad query', 'GET', this.pick(['/v1/jobs', '/v1/events']) + '?' + query, undefined)
      }
      case 12: {
        const queue = this.pick(['has%20space', '.dot', 'x'.repeat(129), '%C3%BC', '%00', '-lead'])
        const good = this.chance(0.5)
        return send(
          'bad queue action',
          'POST',
          `/v1/queues/${good ? 'greetings' : queue}/${this.pick(['pause', 'resume'])}`,
          good ? this.pick([{ paused: true }, [1], 'x', 5]) : undefined,
        )
      }
      case 13: {
        const method = this.pick(['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'POST', 'GET'])
        const path = this.pick(['/v1/job', '/v1/jobs/x/y/z', '/v2/jobs', '/', '//v1//jobs', '/v1/queues', '/metrics/x', `/${encodeBytes(this.string(10))}`, '/v1/jobs?%zz'])
        return send('bad route', method, path, method === 'POST' || method === 'PUT' ? { task: 'gret' } : undefined)
      }
      case 14: {
        const { body } = this.brokenEnqueue()
        return send('bad header', 'POST', '/v1/jobs', body, { ...json, 'idempotency-key': this.pick(['', 'k'.repeat(600)]) })
      }
      default: {
        // Arbitrary JSON documents as a body; an unknown task makes sure none of them is a valid job.
        const body = this.chance(0.5) ? this.json(4) : { task: `nope-${this.int(1000)}`, payload: this.json(5) }
        return send('random JSON', 'POST', this.pick(['/v1/jobs', '/v1/jobs/batch', '/v1/jobs/x/cancel']), body)
      }
    }
  }

  /** Requests written byte for byte: bodies cut short, lengths that lie, broken request lines and headers. */
  raw(): { kind: string; bytes: Buffer; endEarly: boolean } {
    const body = JSON.stringify({ task: 'greet', payload: { name: 'cut short' } })
    switch (this.int(5)) {
      case 0: {
        const sent = body.slice(0, this.int(body.length))
        return { kind: 'body shorter than Content-Length', bytes: Buffer.from(`POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${sent}`), endEarly: true }
      }
      case 1:
        return { kind: 'body longer than Content-Length', bytes: Buffer.from(`POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n${body}`), endEarly: false }
      case 2: {
        const cut = `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body.slice(0, 10)}`
        return { kind: 'chunked body cut short', bytes: Buffer.from(cut), endEarly: true }
      }
      case 3:
        return {
          kind: 'invalid request line',
          bytes: Buffer.concat([Buffer.from(this.pick(['GET /v1/jobs/', 'BREW /', 'GET  HTTP/1.1', 'POST /v1/jobs HTTP/9.9'])), Buffer.from([0xff, 0xfe]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
          endEarly: false,
        }
      default:
        return {
          kind: 'invalid header',
          bytes: Buffer.from(`GET /v1/jobs HTTP/1.1\r\nHost: x\r\n${this.pick(['Bad Header: x', 'X: a\rb', ': empty', 'Content-Length: -1', 'Content-Length: 1, 2'])}\r\nConnection: close\r\n\r\n`),
          endEarly: false,
        }
    }
  }
}

interface Outcome {
  status: number
  body: string
}

function send(agent: Agent, port: number, request: Malformed): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...request.headers }
    if (request.body !== undefined) headers['content-length'] = request.body.length
    const outgoing = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.path, headers, agent, timeout: 15_000 }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    })
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 15s')))
    outgoing.on('error', reject)
    outgoing.end(request.body)
  })
}

function sendRaw(port: number, bytes: Buffer, endEarly: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 15s')), 15_000)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (answer += chunk))
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(answer)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while we still write: what it answered before is what counts.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') return
      clearTimeout(timer)
      reject(error)
    })
    socket.write(bytes)
    if (endEarly) socket.end()
  })
}

function describeRequest(request: Malformed): string {
  const body = request.body === undefined ? '' : request.body.subarray(0, 300).toString('utf8')
  return `${request.kind}: ${request.method} ${request.path.slice(0, 200)} ${JSON.stringify(request.headers)} ${JSON.stringify(body)}`
}

async function pool<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++]!)
    }),
  )
}

test(`${HTTP_REQUESTS + RAW_REQUESTS} malformed requests get no 5xx and write nothing (seed ${SEED})`, async () => {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, tasks: TASKS, logger: false })
  const server = await startServer(offload, { port: 0, logger: false })
  const port = Number(new URL(server.url).port)
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const failures: string[] = []
  const statuses = new Map<number, number>()
  try {
    const generator = new Generator(prng(SEED))
    const requests = Array.from({ length: HTTP_REQUESTS }, () => generator.request())
    const raws = Array.from({ length: RAW_REQUESTS }, () => generator.raw())

    await pool(requests, CONCURRENCY, async (request) => {
      let outcome: Outcome
      try {
        outcome = await send(agent, port, request)
      } catch (error) {
        failures.push(`${describeRequest(request)} → ${(error as Error).message}`)
        return
      }
      statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
      if (outcome.status >= 500) failures.push(`${describeRequest(request)} → ${outcome.status} ${outcome.body.slice(0, 300)}`)
      // Only reads may succeed: every write here is built to be refused.
      else if (outcome.status < 300 && request.method !== 'GET') failures.push(`${describeRequest(request)} → ${outcome.status}, accepted`)
      else if (outcome.status >= 400) {
        // Every refusal in the one error format (a HEAD answer has no body to check).
        const body = request.method === 'HEAD' ? undefined : (JSON.parse(outcome.body) as { error?: { code?: unknown; message?: unknown; details?: unknown } })
        if (body !== undefined && (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string' || typeof body.error.details !== 'object')) {
          failures.push(`${describeRequest(request)} → ${outcome.status} not in the error format: ${outcome.body.slice(0, 300)}`)
        }
      }
    })

    await pool(raws, 8, async (raw) => {
      const answer = await sendRaw(port, raw.bytes, raw.endEarly)
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]
      if (status !== undefined) statuses.set(Number(status), (statuses.get(Number(status)) ?? 0) + 1)
      if (status !== undefined && Number(status) >= 500) failures.push(`raw ${raw.kind}: ${JSON.stringify(raw.bytes.toString('latin1').slice(0, 200))} → ${answer.slice(0, 300)}`)
    })

    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify([...statuses].sort()))
    expect(failures.slice(0, 20), `${failures.length} failures (seed ${SEED}); statuses ${JSON.stringify([...statuses])}`).toEqual([])
    expect([...statuses.keys()].every((status) => status < 500)).toBe(true)
    // Nothing written: no job, no event, no queue paused.
    expect(await offload.countJobs()).toEqual([])
    expect((await offload.listJobs({ limit: 1 })).jobs).toEqual([])
    expect(await offload.store.eventLastSeq()).toBe(0)
    expect(await offload.listQueues()).toEqual([])
    // And the server is still well.
    const health = await send(agent, port, { kind: 'health', method: 'GET', path: '/readyz', headers: {} })
    expect(health.status).toBe(200)
  } finally {
    agent.destroy()
    await server.close()
    await offload.close()
  }
})
