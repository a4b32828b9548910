/**
 * Completion webhooks end to end, against a real HTTP receiver on 127.0.0.1: signed POSTs for
 * every kind of finish, retries with backoff until a failing receiver recovers, the dead state,
 * the record on the job's timeline, and — with a real worker process SIGKILLed while it dispatches
 * and delivers — one delivery per finish, none lost.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import {
  createOffload,
  PermanentError,
  verifyWebhookSignature,
  type JobEvent,
  type JobInfo,
  type Offload,
  type OffloadConfig,
  type WebhookDeliveryPayload,
  type WebhookEvent,
} from '../../src/index.js'
import { webhookDeliveryTemplate } from '../../src/webhooks/delivery.js'
import { startAgent } from '../support/child.js'
import { STORE_KINDS } from '../support/stores.js'
import { FAST, noop } from './fixtures/webhook-worker.js'

const SECRET = 'whsec_test_0123456789abcdef'
const DELIVERY_TASK = 'offload.webhook'
const WEBHOOK_QUEUE = 'offload.webhooks'

/** One request the receiver got: headers and the raw body, as a receiver verifies them. */
interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: Buffer
  /** The delivery id (`Offload-Delivery`). */
  delivery: string
  event: WebhookEvent
}

/** How the receiver answers its n-th request (from 1): a status, or `hang` to never answer. */
type Answer = (n: number, request: Received) => number | 'hang'

/** A real HTTP server on an ephemeral port that records every request and answers as told. */
class Receiver {
  readonly requests: Received[] = []
  private readonly server: Server
  private readonly waiters: { ready: () => boolean; resolve: () => void }[] = []
  private readonly hanging: ServerResponse[] = []

  constructor(private answer: Answer) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const received: Received = {
          path: req.url ?? '',
          headers: req.headers,
          body,
          delivery: String(req.headers['offload-delivery']),
          event: JSON.parse(body.toString('utf8')) as WebhookEvent,
        }
        this.requests.push(received)
        const status = this.answer(this.requests.length, received)
        if (status === 'hang') this.hanging.push(res)
        else {
          // A redirect points back here, where a followed one would show as a request to /moved.
          const location = status >= 300 && status < 400 ? { location: '/moved' } : {}
          res.writeHead(status, { 'content-type': 'text/plain', ...location }).end(status < 300 ? 'ok' : `nope ${status}`)
        }
        for (const waiter of this.waiters.filter((candidate) => candidate.ready())) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1)
          waiter.resolve()
        }
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/offload`
  }

  answerWith(answer: Answer): void {
    this.answer = answer
  }

  /** Resolves once `ready()` holds, checked at every request. */
  until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ ready, resolve }))
  }

  /** Resolves with the first `count` requests once they have arrived. */
  async received(count: number): Promise<Received[]> {
    await this.until(() => this.requests.length >= count)
    return this.requests.slice(0, count)
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }
}

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function receiver(answer: Answer = () => 200): Promise<Receiver> {
  const started = await new Receiver(answer).start()
  cleanups.push(() => started.close())
  return started
}

/** An Offload instance on `store` with a short fixed backoff, closed after the test (before the receiver). */
function open(store: string, config: OffloadConfig = {}): Offload {
  const offload = createOffload({
    store,
    logger: false,
    maintenance: FAST.maintenance,
    ...config,
    webhooks: { secret: SECRET, attempts: 3, backoff: { type: 'fixed', delay: '50ms' }, ...config.webhooks },
  })
  cleanups.push(() => offload.close())
  return offload
}

/** A task that completes with `{ ok: true }`, or fails for good when asked. */
function defineThing(offload: Offload, webhook: string) {
  return offload.task('thing', {
    webhook,
    attempts: 1,
    run(input: { fail?: boolean }) {
      if (input.fail) throw new PermanentError('asked to fail')
      return { ok: true }
    },
  })
}

function webhookEvents(events: JobEvent[]): Record<string, unknown>[] {
  return events.filter((event) => event.type === 'webhook').map((event) => event.data!)
}

async function deliveriesOf(offload: Offload): Promise<JobInfo<WebhookDeliveryPayload>[]> {
  const all: JobInfo<WebhookDeliveryPayload>[] = []
  let cursor: string | undefined
  do {
    const page = await offload.listJobs({ task: DELIVERY_TASK, limit: 1000, ...(cursor === undefined ? {} : { cursor }) })
    all.push(...(page.jobs as JobInfo<WebhookDeliveryPayload>[]))
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return all
}

/**
 * The delivery job announcing `jobId`'s finish, once it has finished. `offload` must be the
 * dispatcher's instance: its store notes (a delivery made, a job finished) say when to look again.
 */
async function deliveryOf(offload: Offload, jobId: string): Promise<JobInfo<WebhookDeliveryPayload>> {
  const made = await new Promise<JobInfo<WebhookDeliveryPayload>>((resolve, reject) => {
    let done = false
    const look = (): void => {
      deliveriesOf(offload).then((deliveries) => {
        const found = deliveries.find((delivery) => delivery.payload.jobId === jobId)
        if (found === undefined || done) return
        done = true
        unlisten()
        resolve(found)
      }, reject)
    }
    const unlisten = offload.store.listen((note) => {
      if ((note.kind === 'ready' && note.queue === WEBHOOK_QUEUE) || note.kind === 'changed') look()
    })
    look()
  })
  return (await offload.waitForJob(made.id, { timeout: '20s' })) as JobInfo<WebhookDeliveryPayload>
}

/** Asks the store for any finish still owed a delivery job: none, once every one was dispatched. */
function dispatchLeft(offload: Offload): Promise<number> {
  return offload.store.jobWebhookDispatch({ limit: 10_000, delivery: webhookDeliveryTemplate(offload.webhookSettings) })
}

describe.each(STORE_KINDS)('%s', (_name, newStore) => {
  test('a completed job is announced by exactly one signed POST, and the delivery shows on its timeline', async () => {
    const hooks = await receiver()
    const offload = open(newStore())
    const thing = defineThing(offload, hooks.url)
    await offload.work(FAST.work)
    const job = await thing.enqueue({})

    const [request] = await hooks.received(1)
    expect(verifyWebhookSignature({ secret: SECRET, body: request!.body, header: request!.headers['offload-signature'] })).toBe(true)
    expect(verifyWebhookSignature({ secret: 'whsec_someone_else_entirely', body: request!.body, header: request!.headers['offload-signature'] })).toBe(false)
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'offload-event': 'job.completed',
      'user-agent': expect.stringMatching(/^offload\/\d+\.\d+\.\d+/),
    })
    const event = request!.event
    expect(event).toMatchObject({ type: 'job.completed', deliveryId: request!.delivery })
    expect(event.job).toMatchObject({ id: job.id, task: 'thing', state: 'completed', result: { ok: true }, attempt: 1, webhook: hooks.url })
    expect(new Date((event.job as { finishedAt: string }).finishedAt).toISOString()).toBe((event.job as { finishedAt: string }).finishedAt)

    const delivery = await offload.waitForJob(request!.delivery, { timeout: '20s' })
    expect(delivery).toMatchObject({ task: DELIVERY_TASK, queue: WEBHOOK_QUEUE, state: 'completed', attempt: 1, maxAttempts: 3 })
    expect(delivery.result).toMatchObject({ status: 200 })
    expect(delivery.payload).toMatchObject({ jobId: job.id, url: hooks.url, state: 'completed', attempt: 1 })

    const events = await offload.jobEvents(job.id)
    expect(events.at(-1)).toMatchObject({ type: 'webhook', state: 'completed' })
    expect(webhookEvents(events)).toEqual([
      { url: hooks.url, deliveryId: request!.delivery, attempt: 1, maxAttempts: 3, status: 200, durationMs: expect.any(Number), outcome: 'delivered' },
    ])
    // Exactly one: one delivery job, nothing left to dispatch, and the receiver heard once.
    expect(await deliveriesOf(offload)).toHaveLength(1)
    expect(await dispatchLeft(offload)).toBe(0)
    expect(hooks.requests).toHaveLength(1)
  })

  test('failed and cancelled jobs are announced too; a job without a webhook is not', async () => {
    const hooks = await receiver()
    const offload = open(newStore())
    const thing = defineThing(offload, hooks.url)
    const quiet = offload.task('quiet', { run: () => 'shh' })
    await offload.work(FAST.work)

    const silent = await quiet.enqueue()
    const failed = await thing.enqueue({ fail: true })
    const cancelled = await thing.enqueue({}, { delay: '1h' })
    await cancelled.cancel()
    const requests = await hooks.received(2)
    const byJob = new Map(requests.map((request) => [request.event.job.id, request]))
    expect(byJob.get(failed.id)!.headers['offload-event']).toBe('job.failed')
    expect(byJob.get(failed.id)!.event).toMatchObject({ type: 'job.failed', job: { state: 'failed', errors: [{ name: 'PermanentError', message: 'asked to fail' }] } })
    expect(byJob.get(cancelled.id)!.event).toMatchObject({ type: 'job.cancelled', job: { state: 'cancelled' } })
    for (const request of requests) {
      expect(verifyWebhookSignature({ secret: SECRET, body: request.body, header: request.headers['offload-signature'] })).toBe(true)
      await offload.waitForJob(request.delivery, { timeout: '20s' })
    }
    for (const job of [failed, cancelled]) {
      expect(webhookEvents(await offload.jobEvents(job.id)).map((data) => data.outcome)).toEqual(['delivered'])
    }

    expect(await silent.result({ timeout: '20s' })).toBe('shh')
    expect(await dispatchLeft(offload)).toBe(0)
    expect((await deliveriesOf(offload)).map((delivery) => delivery.payload.jobId).sort()).toEqual([failed.id, cancelled.id].sort())
    expect(webhookEvents(await offload.jobEvents(silent.id))).toEqual([])
  })

  test('a receiver that fails twice and then recovers gets the delivery on the third attempt', async () => {
    const hooks = await receiver((n) => (n <= 2 ? 500 : 200))
    const offload = open(newStore())
    const thing = defineThing(offload, hooks.url)
    await offload.work(FAST.work)
    const job = await thing.enqueue({})

    const requests = await hooks.received(3)
    // Every attempt is the same delivery, re-signed: receivers dedupe on Offload-Delivery.
    expect(new Set(requests.map((request) => request.delivery)).size).toBe(1)
    for (const request of requests) {
      expect(verifyWebhookSignature({ secret: SECRET, body: request.body, header: request.headers['offload-signature'] })).toBe(true)
    }
    const delivery = await offload.waitForJob(requests[0]!.delivery, { timeout: '20s' })
    expect(delivery).toMatchObject({ state: 'completed', attempt: 3 })
    expect(delivery.errors.map((error) => error.message)).toEqual(['the receiver answered HTTP 500: nope 500', 'the receiver answered HTTP 500: nope 500'])

    const attempts = webhookEvents(await offload.jobEvents(job.id))
    expect(attempts.map((data) => [data.attempt, data.status, data.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 500, 'retrying'],
      [3, 200, 'delivered'],
    ])
    expect(attempts[0]).toMatchObject({ error: 'the receiver answered HTTP 500: nope 500', maxAttempts: 3, deliveryId: delivery.id })
    expect(hooks.requests).toHaveLength(3)
  })

  test('a receiver that always fails leaves the delivery dead (failed); a retry by hand delivers it', async () => {
    const hooks = await receiver(() => 503)
    const offload = open(newStore())
    const thing = defineThing(offload, hooks.url)
    await offload.work(FAST.work)
    const job = await thing.enqueue({})

    const [first] = await hooks.received(1)
    const dead = await offload.waitForJob(first!.delivery, { timeout: '20s' })
    expect(dead).toMatchObject({ state: 'failed', attempt: 3 })
    expect(dead.errors.at(-1)!.message).toBe('the receiver answered HTTP 503: nope 503')
    expect(hooks.requests).toHaveLength(3)
    const outcomes = webhookEvents(await offload.jobEvents(job.id)).map((data) => [data.attempt, data.status, data.outcome])
    expect(outcomes).toEqual([
      [1, 503, 'retrying'],
      [2, 503, 'retrying'],
      [3, 503, 'dead'],
    ])

    hooks.answerWith(() => 204)
    await offload.retryJob(dead.id)
    expect(await offload.waitForJob(dead.id, { timeout: '20s' })).toMatchObject({ state: 'completed', attempt: 1 })
    expect(webhookEvents(await offload.jobEvents(job.id)).at(-1)).toMatchObject({ attempt: 1, status: 204, outcome: 'delivered', deliveryId: dead.id })
    expect(hooks.requests.at(-1)!.delivery).toBe(dead.id)
  })

  test('a job killed with its worker mid-dispatch gets exactly one delivery per finish, none lost', async () => {
    const jobs = 400
    const store = newStore()
    const hooks = await receiver()
    const producer = open(store, { tasks: [noop], webhooks: FAST.webhooks })
    // Below the deliveries' priority (0), so deliveries run as soon as they are made, between the
    // jobs: finishing, dispatching and delivering go on side by side until the kill.
    const options = { webhook: hooks.url, priority: -1 }
    const handles = await producer.enqueueMany(Array.from({ length: jobs }, (_, n) => ({ task: noop.name, payload: { n }, options })))
    const ids = new Set(handles.map((handle) => handle.id))
    const announced = (): Set<string> => new Set(hooks.requests.map((request) => request.event.job.id))

    // The child is the only worker and the maintenance leader: it dispatches and delivers until a
    // quarter of the jobs were announced, and dies with finishes owed, dispatches and deliveries
    // in flight.
    const doomed = startAgent('test/server/fixtures/webhook-worker.ts', { store, secret: SECRET })
    await doomed.waitForType('ready')
    await hooks.until(() => announced().size >= jobs / 4)
    await doomed.kill('SIGKILL')
    const beforeKill = announced().size
    expect(beforeKill).toBeLessThan(jobs)
    // Killed mid-run: jobs left to finish (and so to dispatch) and deliveries left to make.
    const unfinished = (await producer.countJobs()).filter((count) => count.state !== 'completed')
    expect(unfinished.some((count) => count.queue === 'default' && count.count > 0)).toBe(true)
    expect((await deliveriesOf(producer)).length).toBeLessThan(jobs)

    // This process takes over once the child's leadership and leases expire.
    await producer.work(FAST.work)
    await hooks.until(() => announced().size === jobs)
    expect([...announced()].every((id) => ids.has(id))).toBe(true)

    const deliveries = await deliveriesOf(producer)
    for (const delivery of deliveries) await producer.waitForJob(delivery.id, { timeout: '30s' })
    expect(await dispatchLeft(producer)).toBe(0)
    // One delivery job per finish: none missing, none twice.
    const after = await deliveriesOf(producer)
    expect(after).toHaveLength(jobs)
    expect(new Set(after.map((delivery) => delivery.payload.jobId))).toEqual(ids)
    expect(after.every((delivery) => delivery.state === 'completed')).toBe(true)
    // A delivery the child made but did not record may come again (at-least-once): always under
    // its own id, which is the one its job's delivery job has.
    const deliveryOf = new Map(after.map((delivery) => [delivery.payload.jobId, delivery.id]))
    for (const request of hooks.requests) expect(request.delivery).toBe(deliveryOf.get(request.event.job.id))
    expect(new Set(hooks.requests.map((request) => request.delivery)).size).toBe(jobs)
  })
})

describe('SQLite only', () => {
  const newStore = STORE_KINDS[0]![1]

  test('redirects are not followed, a receiver that never answers times out, an unreachable one is named', async () => {
    const hooks = await receiver((n) => (n === 1 ? 302 : 'hang'))
    const closed = await receiver()
    const unreachable = closed.url
    await closed.close()
    const offload = open(newStore(), { webhooks: { attempts: 1, timeout: '300ms' } })
    const thing = defineThing(offload, hooks.url)
    await offload.work(FAST.work)

    const redirected = await thing.enqueue({})
    const [redirect] = await hooks.received(1)
    expect(await offload.waitForJob(redirect!.delivery, { timeout: '20s' })).toMatchObject({ state: 'failed' })
    expect(webhookEvents(await offload.jobEvents(redirected.id))).toEqual([
      expect.objectContaining({ status: 302, outcome: 'dead', error: 'the receiver answered HTTP 302 (redirects are not followed): nope 302' }),
    ])
    expect(hooks.requests.map((request) => request.path)).toEqual(['/hooks/offload'])

    const slow = await thing.enqueue({})
    const [hung] = (await hooks.received(2)).slice(1)
    expect(hung!.path).toBe('/hooks/offload')
    expect(await offload.waitForJob(hung!.delivery, { timeout: '20s' })).toMatchObject({ state: 'failed' })
    const [timedOut] = webhookEvents(await offload.jobEvents(slow.id))
    expect(timedOut).toMatchObject({ outcome: 'dead', error: 'no answer within 300 ms' })
    expect(timedOut!.durationMs as number).toBeGreaterThanOrEqual(290)
    expect(timedOut).not.toHaveProperty('status')

    const lost = await thing.enqueue({}, { webhook: unreachable })
    expect(await deliveryOf(offload, lost.id)).toMatchObject({ state: 'failed' })
    expect(webhookEvents(await offload.jobEvents(lost.id))).toEqual([
      expect.objectContaining({ outcome: 'dead', error: `could not reach ${new URL(unreachable).host}: ECONNREFUSED` }),
    ])
  })

  test('a worker without a signing secret fails the attempt and says why', async () => {
    const store = newStore()
    const hooks = await receiver()
    const producer = open(store)
    const thing = defineThing(producer, hooks.url)
    const job = await thing.enqueue({})

    const previous = process.env.OFFLOAD_WEBHOOK_SECRET
    delete process.env.OFFLOAD_WEBHOOK_SECRET
    let worker: Offload
    try {
      worker = createOffload({ store, logger: false, maintenance: FAST.maintenance, webhooks: { attempts: 1 } })
    } finally {
      if (previous !== undefined) process.env.OFFLOAD_WEBHOOK_SECRET = previous
    }
    cleanups.push(() => worker.close())
    defineThing(worker, hooks.url)
    await worker.work(FAST.work)
    expect(await job.result({ timeout: '20s' })).toEqual({ ok: true })
    expect(await deliveryOf(worker, job.id)).toMatchObject({ state: 'failed', attempt: 1 })
    expect(await deliveriesOf(producer)).toHaveLength(1)
    expect(webhookEvents(await producer.jobEvents(job.id))).toEqual([
      expect.objectContaining({
        outcome: 'dead',
        error: 'this worker has no webhook signing secret: set webhooks.secret in createOffload() or OFFLOAD_WEBHOOK_SECRET',
      }),
    ])
    expect(hooks.requests).toHaveLength(0)
  })

  test('a job pruned before its delivery is announced from what the delivery recorded', async () => {
    const store = newStore()
    const hooks = await receiver()
    const offload = open(store)
    const thing = defineThing(offload, hooks.url)
    // A worker without maintenance: the job finishes, and nothing dispatches until this test does.
    await offload.work({ ...FAST.work, maintenance: false, queues: ['default'] })
    const job = await thing.enqueue({})
    const finished = await offload.waitForJob(job.id, { timeout: '20s' })
    expect(await dispatchLeft(offload)).toBe(1)
    expect(await offload.store.jobPrune({ olderThanMs: { completed: 0, failed: 0, cancelled: 0 }, limit: 100, now: Date.now() + 1000 })).toBe(1)
    expect(await offload.getJob(job.id)).toBeUndefined()

    await offload.work({ ...FAST.work, maintenance: false, queues: [WEBHOOK_QUEUE] })
    const [request] = await hooks.received(1)
    expect(request!.event).toEqual({
      type: 'job.completed',
      deliveryId: request!.delivery,
      job: { id: job.id, state: 'completed', attempt: 1, finishedAt: finished.finishedAt!.toISOString(), pruned: true },
    })
    expect(await offload.waitForJob(request!.delivery, { timeout: '20s' })).toMatchObject({ state: 'completed' })
  })

  test('the delivery task is Offload’s own: it cannot be enqueued or redefined, and is not listed', async () => {
    const offload = open(newStore())
    await expect(offload.enqueue(DELIVERY_TASK, { jobId: 'x', url: 'http://127.0.0.1:1/', state: 'completed', attempt: 1, finishedAt: '' })).rejects.toMatchObject({
      code: 'UNKNOWN_TASK',
    })
    expect(() => offload.task(DELIVERY_TASK, { run: () => {} })).toThrow(expect.objectContaining({ code: 'DUPLICATE_TASK' }))
    expect([...offload.tasks.keys()]).toEqual([])
  })
})
