import { expect, test, vi } from 'vitest'
import { createOffload, openStore, silentLogger, PermanentError, type EventListParams, type JobEvent, type Offload, type Store } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { EventHub } from '../../src/server/event-hub.js'
import { SseClient } from './events-client.js'
import { closeAfterTest, get, getJson, LogLines, startTestServer } from './events-server.js'


function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

/** An Offload on a fresh SQLite file with a task that waits for `gate` and one that fails for good. */
function setup(store?: Store) {
  const offload = closeAfterTest(createOffload({ store: store ?? `sqlite:${tempDb()}`, logger: false }))
  const opened = new Map<string, ReturnType<typeof deferred>>()
  const gate = (name: string) => {
    if (!opened.has(name)) opened.set(name, deferred())
    return opened.get(name)!
  }
  const slow = offload.task('slow', {
    async run(input: { gate: string }, ctx) {
      await ctx.log(`waiting for ${input.gate}`)
      await gate(input.gate).promise
      await ctx.progress(50)
      return 'done'
    },
  })
  const quick = offload.task('quick', { queue: 'fast', run: (input: { n: number }) => input.n * 2 })
  const broken = offload.task('broken', {
    attempts: 1,
    run: () => {
      throw new PermanentError('no such thing')
    },
  })
  return { offload, slow, quick, broken, open: (name: string) => gate(name).resolve() }
}

/** 400 log events of 20 kB each: far more than the socket buffers between server and client hold. */
function chattyTask(offload: Offload) {
  return offload.task('chatty', {
    async run(_: void, ctx) {
      for (let i = 0; i < 400; i++) await ctx.log(`${i} ${'x'.repeat(20_000)}`)
    },
  })
}

const types = (client: SseClient): string[] => client.events.map((event) => event.type)

test("a job's stream replays its history, follows it live and ends once the job completes", async () => {
  const { offload, slow, open } = setup()
  const server = await startTestServer(offload)
  await offload.work({ handleSignals: false })
  const job = await slow.enqueue({ gate: 'a' })

  const stream = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`)
  expect(stream.status).toBe(200)
  expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8')
  expect(stream.headers['cache-control']).toBe('no-cache, no-transform')
  await stream.waitFor(() => types(stream).includes('log'), 'the log line of the running job')
  open('a')
  await stream.ended
  expect(types(stream)).toEqual(['enqueued', 'started', 'log', 'progress', 'completed'])
  // id = seq, event = type, data = the event as JSON; the same events the JSON timeline lists.
  for (const message of stream.messages) {
    const event = JSON.parse(message.data)
    expect(message.id).toBe(String(event.seq))
    expect(message.event).toBe(event.type)
    expect(event).toMatchObject({ jobId: job.id, task: 'slow', queue: 'default' })
  }
  const answer = await get(`${server.url}/v1/jobs/${job.id}/events`, { accept: 'application/json' })
  expect(answer.status).toBe(200)
  expect(answer.headers.vary).toBe('accept')
  const timeline = { body: JSON.parse(answer.text) }
  expect(timeline.body.events).toEqual(stream.events)
  expect(timeline.body.events.at(-1)).toMatchObject({ type: 'completed', state: 'completed', attempt: 1 })
})

test("a finished job's stream sends its history and ends; Last-Event-ID resumes with exactly the missing events", async () => {
  const { offload, slow, broken, open } = setup()
  const server = await startTestServer(offload)
  await offload.work({ handleSignals: false })
  open('b')
  const job = await slow.enqueue({ gate: 'b' })
  await job.result({ timeout: '10s' })
  const failed = await broken.enqueue()
  await expect(failed.result({ timeout: '10s' })).rejects.toThrow('no such thing')

  const whole = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`)
  await whole.ended
  expect(types(whole)).toEqual(['enqueued', 'started', 'log', 'progress', 'completed'])

  const [, second, ...rest] = whole.messages
  const resumed = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`, { 'last-event-id': second!.id! })
  await resumed.ended
  expect(resumed.messages).toEqual(rest)
  // ?after= does the same; Last-Event-ID wins over it (an EventSource reconnects with its first URL).
  const after = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events?after=0`, { 'last-event-id': second!.id! })
  await after.ended
  expect(after.messages).toEqual(rest)
  // Resuming after the final event: nothing more, and the end.
  const done = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`, { 'last-event-id': whole.lastEventId! })
  await done.ended
  expect(done.messages).toEqual([])

  const failure = await SseClient.open(`${server.url}/v1/jobs/${failed.id}/events`)
  await failure.ended
  expect(failure.events.map((event) => [event.type, event.state])).toEqual([
    ['enqueued', 'queued'],
    ['started', 'running'],
    ['failed', 'failed'],
  ])
  expect(failure.events[2]!.data).toMatchObject({ error: { name: 'PermanentError', message: 'no such thing' } })

  const timeline = await getJson(`${server.url}/v1/jobs/${job.id}/events?after=${second!.id}`)
  expect(timeline.body.events.map((event: JobEvent) => event.type)).toEqual(['log', 'progress', 'completed'])
})

test('an unknown job is a 404 as JSON and as a stream; bad input is a 400', async () => {
  const { offload } = setup()
  const server = await startTestServer(offload)
  const id = '01890000-0000-7000-8000-000000000000'
  const json = await getJson(`${server.url}/v1/jobs/${id}/events`)
  expect(json).toEqual({ status: 404, body: { error: { code: 'JOB_NOT_FOUND', message: `no job with id ${id}`, details: { id } } } })
  const stream = await SseClient.open(`${server.url}/v1/jobs/${id}/events`)
  await stream.ended
  expect(stream.status).toBe(404)
  expect(JSON.parse(stream.body).error.code).toBe('JOB_NOT_FOUND')

  for (const path of [
    `/v1/jobs/${id}/events?after=-1`,
    `/v1/jobs/${id}/events?after=x`,
    `/v1/jobs/${id}/events?limit=3`,
    `/v1/jobs/${'x'.repeat(65)}/events`,
    '/v1/events?state=compleetd',
    '/v1/events?type=finished',
    '/v1/events?queue=no%20spaces',
    '/v1/events?queue=,',
    '/v1/events?after=1.5',
    '/v1/events?colour=red',
  ]) {
    const answer = await get(`${server.url}${path}`, { accept: 'text/event-stream' })
    expect({ path, status: answer.status }).toEqual({ path, status: 400 })
    expect(Object.keys(JSON.parse(answer.text).error)).toEqual(['code', 'message', 'details'])
  }
  const typo = await getJson(`${server.url}/v1/events?state=queued,compleetd`)
  expect(typo.body.error).toMatchObject({ code: 'INVALID_OPTION', message: 'unknown job state "compleetd", did you mean \'completed\'?' })
  const header = await get(`${server.url}/v1/events`, { accept: 'text/event-stream', 'last-event-id': 'abc' })
  expect(header.status).toBe(400)
  // A HEAD of a stream would never end: there is none.
  expect((await get(`${server.url}/v1/events`, {}, 'HEAD')).status).toBe(405)
})

test.each([
  ['live events held during the replay', {}],
  ['live events let go and re-read from the log (maxHeldEvents: 3)', { maxHeldEvents: 3 }],
])('/v1/events resumed with Last-Event-ID under load has no gap and no duplicate: %s', async (_name, events) => {
  const { offload, quick } = setup()
  const server = await startTestServer(offload, { events })
  await offload.work({ handleSignals: false, concurrency: 20 })
  const first = await SseClient.open(`${server.url}/v1/events`)
  const load = (async () => {
    for (let round = 0; round < 20; round++) {
      await quick.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ payload: { n: round * 10 + i } })))
    }
  })()
  await first.waitFor(() => first.messages.length >= 60, 'sixty events')
  await first.close()
  // Reconnects the way an EventSource does: same URL, Last-Event-ID of the last event it got.
  const second = await SseClient.open(`${server.url}/v1/events`, { 'last-event-id': first.lastEventId! })
  await load
  const completions = (): number => [...first.events, ...second.events].filter((event) => event.type === 'completed').length
  await second.waitFor(() => completions() === 200, 'all 200 completions across both connections')
  await second.close()

  const seqs = [...first.seqs, ...second.seqs]
  const log = await offload.store.eventList({ after: first.seqs[0]! - 1, limit: 10_000 })
  expect(seqs).toEqual(log.map((event) => event.seq))
  expect(second.seqs[0]).toBe(Number(first.lastEventId) + 1)
})

test('/v1/events filters by queue, task, state and event type, and heartbeats move a filtered client past what it skipped', async () => {
  const { offload, slow, quick, broken, open } = setup()
  const server = await startTestServer(offload, { events: { heartbeatMs: 20 } })
  const url = (query: string): string => `${server.url}/v1/events${query}`
  const [all, byQueue, byTasks, byStates, byType] = (await Promise.all(
    ['', '?queue=fast', '?task=broken,%20slow', '?state=completed,failed', '?type=started&queue=default'].map((query) => SseClient.open(url(query))),
  )) as [SseClient, SseClient, SseClient, SseClient, SseClient]
  await offload.work({ handleSignals: false })
  open('c')
  const jobs = [await slow.enqueue({ gate: 'c' }), await quick.enqueue({ n: 1 }), await broken.enqueue()]
  const finals = (client: SseClient): number => client.events.filter((event) => ['completed', 'failed'].includes(event.type)).length
  await all.waitFor(() => finals(all) === 3, 'three outcomes')
  const expected = (keep: (event: (typeof all.events)[number]) => boolean) => all.events.filter(keep)
  const cases: [SseClient, ReturnType<typeof expected>][] = [
    [byQueue, expected((event) => event.queue === 'fast')],
    [byTasks, expected((event) => event.task === 'broken' || event.task === 'slow')],
    [byStates, expected((event) => event.state === 'completed' || event.state === 'failed')],
    [byType, expected((event) => event.type === 'started' && event.queue === 'default')],
  ]
  for (const [client, events] of cases) {
    // A heartbeat sets Last-Event-ID to the newest event the stream passed over, sent or not.
    await client.waitFor(() => client.lastEventId === all.lastEventId, 'a heartbeat with the latest id')
    expect(client.events).toEqual(events)
  }
  expect(byQueue.events.map((event) => event.type)).toEqual(['enqueued', 'started', 'completed'])
  expect(byStates.events.map((event) => [event.jobId, event.type])).toEqual(
    expect.arrayContaining([[jobs[0]!.id, 'completed'], [jobs[1]!.id, 'completed'], [jobs[2]!.id, 'failed']]),
  )
  expect(byType.events).toHaveLength(2)
  expect(all.comments).toContain('heartbeat')
})

test('many SSE clients share one tail of the log', async () => {
  // A wrapper, not a mock: every call goes to the real store; tail reads (no jobId) are counted.
  const inner = openStore(`sqlite:${tempDb()}`)
  const tail = { reads: 0, inFlight: 0, maxInFlight: 0, afters: [] as number[], lastSeqCalls: 0 }
  const store = new Proxy(inner, {
    get(target, name) {
      if (name === 'eventList') {
        return async (params: EventListParams) => {
          if (params.jobId !== undefined) return target.eventList(params)
          tail.reads++
          tail.afters.push(params.after ?? 0)
          tail.maxInFlight = Math.max(tail.maxInFlight, ++tail.inFlight)
          try {
            return await target.eventList(params)
          } finally {
            tail.inFlight--
          }
        }
      }
      if (name === 'eventLastSeq') tail.lastSeqCalls++
      const value = Reflect.get(target, name, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const { offload, quick } = setup(store)
  closeAfterTest(inner)
  const server = await startTestServer(offload)
  const clients = await Promise.all(Array.from({ length: 25 }, () => SseClient.open(`${server.url}/v1/events`)))
  await offload.work({ handleSignals: false })
  for (let round = 0; round < 3; round++) await quick.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ payload: { n: i } })))
  for (const client of clients) {
    await client.waitFor(() => client.events.filter((event) => event.type === 'completed').length === 30, 'thirty completions')
  }
  const seqs = clients[0]!.seqs
  for (const client of clients) expect(client.seqs).toEqual(seqs)
  // One reader: its reads never overlap and its cursor only moves forward; one start.
  expect(tail.maxInFlight).toBe(1)
  expect(tail.afters).toEqual([...tail.afters].sort((a, b) => a - b))
  expect(tail.lastSeqCalls).toBe(1)
})

test('a client that falls behind is paused, not buffered for without bound, and catches up from the log with nothing lost', async () => {
  const { offload, quick } = setup()
  const chatty = chattyTask(offload)
  const logs = new LogLines()
  const server = await startTestServer(offload, { logs, events: { maxBufferedBytes: 64 * 1024, stallTimeoutMs: 60_000 } })
  const good = await SseClient.open(`${server.url}/v1/events`)
  const behind = await SseClient.open(`${server.url}/v1/events`)
  behind.response.pause()
  await offload.work({ handleSignals: false })
  const job = await chatty.enqueue()
  const completed = (client: SseClient) => () => client.events.some((event) => event.jobId === job.id && event.type === 'completed')
  await good.waitFor(completed(good), 'the completion')
  await logs.waitFor('paused an event stream')
  expect(behind.isEnded).toBe(false)
  behind.response.resume()
  await behind.waitFor(completed(behind), 'the completion, after catching up')
  await quick.enqueue({ n: 1 })
  await behind.waitFor(() => behind.events.some((event) => event.task === 'quick' && event.type === 'completed'), 'live events again')
  await good.waitFor(() => good.seqs.length === behind.seqs.length, 'the same events')
  expect(behind.seqs).toEqual(good.seqs)
  expect(good.seqs).toEqual([...new Set(good.seqs)].sort((a, b) => a - b))
})

test('a client that takes nothing for stallTimeoutMs is disconnected and resumes with Last-Event-ID', async () => {
  const { offload } = setup()
  const chatty = chattyTask(offload)
  const logs = new LogLines()
  const server = await startTestServer(offload, { logs, events: { maxBufferedBytes: 64 * 1024, stallTimeoutMs: 500 } })
  const stalled = await SseClient.open(`${server.url}/v1/events`)
  stalled.response.pause()
  await offload.work({ handleSignals: false })
  const job = await chatty.enqueue()
  await job.result({ timeout: '30s' })
  await logs.waitFor('disconnected an event stream client that stopped reading')
  stalled.response.resume()
  await stalled.ended
  expect(stalled.events.some((event) => event.type === 'completed')).toBe(false)
  const resumed = await SseClient.open(`${server.url}/v1/events`, { 'last-event-id': stalled.lastEventId! })
  await resumed.waitFor(() => resumed.events.some((event) => event.type === 'completed'), 'the rest')
  const log = await offload.store.eventList({ after: stalled.seqs[0]! - 1, limit: 10_000 })
  expect([...stalled.seqs, ...resumed.seqs]).toEqual(log.map((event) => event.seq))
  await resumed.close()
})

test('closing the server ends the streams still open', async () => {
  const { offload, slow } = setup()
  const server = await startTestServer(offload)
  await offload.work({ handleSignals: false })
  const job = await slow.enqueue({ gate: 'never' })
  const clients = [
    await SseClient.open(`${server.url}/v1/events`),
    await SseClient.open(`${server.url}/v1/events?after=0`),
    await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`),
  ]
  await clients[2]!.waitFor(() => clients[2]!.events.some((event) => event.type === 'log'), 'the job running')
  await server.close()
  await Promise.all(clients.map((client) => client.ended))
  expect(clients[1]!.events.map((event) => event.type)).toEqual(['enqueued', 'started', 'log'])
})

test("the hub counts each queue's enqueued, completed and failed jobs over the last 1, 5 and 15 minutes", async () => {
  const { offload, quick, broken } = setup()
  await offload.migrate()
  let now = Date.UTC(2030, 0, 1, 12, 0, 0)
  const hub = new EventHub(offload.store, { logger: silentLogger, pollMs: 20, now: () => now })
  await hub.start()
  try {
    let outcomes = 0
    let allThree!: () => void
    const finished = new Promise<void>((resolve) => (allThree = resolve))
    const unsubscribe = hub.subscribe((events) => {
      for (const event of events) if ((event.type === 'completed' || event.type === 'failed') && ++outcomes === 3) allThree()
    })
    // An empty log: the hour before the start is known, and quiet.
    await vi.waitFor(() => expect(hub.activity()).toEqual({ since: new Date(now - 3_600_000), queues: new Map() }))
    await offload.work({ handleSignals: false })
    await quick.enqueueMany([{ payload: { n: 1 } }, { payload: { n: 2 } }])
    await broken.enqueue()
    await finished
    unsubscribe()
    const counts = (n1: number, n5: number, n15: number) => ({ '1m': n1, '5m': n5, '15m': n15 })
    expect(hub.activity().queues).toEqual(
      new Map([
        ['fast', { enqueued: counts(2, 2, 2), completed: counts(2, 2, 2), failed: counts(0, 0, 0) }],
        ['default', { enqueued: counts(1, 1, 1), completed: counts(0, 0, 0), failed: counts(1, 1, 1) }],
      ]),
    )
    now += 2 * 60_000
    expect(hub.activity().queues.get('fast')).toEqual({ enqueued: counts(0, 2, 2), completed: counts(0, 2, 2), failed: counts(0, 0, 0) })
    now += 10 * 60_000
    expect(hub.activity().queues.get('default')).toEqual({ enqueued: counts(0, 0, 1), completed: counts(0, 0, 0), failed: counts(0, 0, 1) })
    // The charts' hour: the minute of the work, 12 minutes back, holds it; the rest is quiet.
    const history = hub.history()
    expect(history.start).toEqual(new Date(now - 59 * 60_000))
    const fast = history.queues.get('fast')!
    expect(fast.completed).toHaveLength(60)
    expect(fast.completed[59 - 12]).toBe(2)
    expect(fast.completed.reduce((sum, n) => sum + n, 0)).toBe(2)
    expect(history.queues.get('default')!.failed[59 - 12]).toBe(1)
    now += 4 * 60_000
    expect(hub.activity().queues.get('fast')).toEqual({ enqueued: counts(0, 0, 0), completed: counts(0, 0, 0), failed: counts(0, 0, 0) })
    // Quiet for the whole hour: forgotten.
    now += 45 * 60_000
    expect(hub.activity().queues).toEqual(new Map())
    expect(hub.history().queues).toEqual(new Map())
  } finally {
    await hub.stop()
  }
})

test('a hub reads the hour before its start back from the log, so a restart keeps the charts', async () => {
  const { offload, quick, broken } = setup()
  await offload.work({ handleSignals: false })
  const done = await quick.enqueueMany([{ payload: { n: 1 } }, { payload: { n: 2 } }, { payload: { n: 3 } }])
  await Promise.all(done.map((job) => job.result()))
  const failed = await broken.enqueue()
  await expect(failed.result()).rejects.toThrow()
  const hub = new EventHub(offload.store, { logger: silentLogger, pollMs: 20 })
  await hub.start()
  try {
    await vi.waitFor(() => expect(hub.activity().queues.get('fast')?.completed['1m']).toBe(3))
    expect(hub.activity().queues.get('default')?.failed['1m']).toBe(1)
    await vi.waitFor(() => expect(hub.activity().since.getTime()).toBeLessThanOrEqual(Date.now() - 3_599_000))
    const fast = hub.history().queues.get('fast')!
    expect(fast.enqueued.reduce((sum, n) => sum + n, 0)).toBe(3)
  } finally {
    await hub.stop()
  }
})

test('with tokens, the streams and /metrics want a token with the read scope', async () => {
  const { offload, slow } = setup()
  const token = 'read-token-0123456789abcdef'
  const server = await startTestServer(offload, { tokens: [{ token, scope: 'read' }] })
  const job = await slow.enqueue({ gate: 'd' })
  for (const path of ['/v1/events', `/v1/jobs/${job.id}/events`, '/metrics']) {
    const refused = await get(`${server.url}${path}`, { accept: 'text/event-stream' })
    expect({ path, status: refused.status }).toEqual({ path, status: 401 })
  }
  const authorization = `Bearer ${token}`
  const stream = await SseClient.open(`${server.url}/v1/jobs/${job.id}/events`, { authorization })
  await stream.waitFor(() => stream.events.length === 1, 'the enqueued event')
  expect(stream.events[0]).toMatchObject({ type: 'enqueued', jobId: job.id })
  await stream.close()
  expect((await get(`${server.url}/metrics`, { authorization })).status).toBe(200)
})
