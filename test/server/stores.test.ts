import { describe, expect, test } from 'vitest'
import { STORE_KINDS } from '../support/stores.js'
import { openGate, serve, work } from './harness.js'

/** The API on each store: the server knows no store, but each store has its own ways to refuse a string. */
describe.each(STORE_KINDS)('the API on %s', (_name, newStore) => {
  test('enqueue, replay, long-poll a worker, list, cancel, queues: the same answers on every store', async () => {
    const { request, offload } = await serve({ store: newStore() })
    await work(offload)
    const created = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'stores' } }, headers: { 'idempotency-key': 'k-1' } })
    expect(created.status).toBe(202)
    const replay = await request('POST', '/v1/jobs', { body: { task: 'gate', payload: { gate: 'stores' } }, headers: { 'idempotency-key': 'k-1' } })
    expect(replay).toMatchObject({ status: 200, body: { id: created.body.id } })
    const polled = request('GET', `/v1/jobs/${created.body.id}?wait=30s`)
    openGate('stores', { done: 1 })
    expect((await polled).body).toMatchObject({ state: 'completed', result: { done: 1 }, attempts: 1 })

    const later = await request('POST', '/v1/jobs', { body: { task: 'greet', delay: '1h' } })
    expect((await request('POST', `/v1/jobs/${later.body.id}/cancel`)).body.state).toBe('cancelled')
    expect((await request('GET', '/v1/jobs?state=cancelled,completed')).body.jobs.map((job: any) => job.id)).toEqual([later.body.id, created.body.id])
    const queues = (await request('GET', '/v1/queues')).body.queues
    expect(queues.map((queue: any) => [queue.queue, queue.counts.completed, queue.counts.cancelled])).toEqual([
      ['gates', 1, 0],
      ['greetings', 0, 1],
    ])
  })

  test('NUL characters and lone surrogates in every string a client can send are stored or refused, never a 5xx', async () => {
    const { request } = await serve({ store: newStore(), config: { webhooks: { secret: 'a-secret-of-16-chars-or-more' } } })
    const odd = 'a\u0000b\ud800c'
    const bodies = [
      { task: 'greet', payload: { name: odd, [odd]: odd } },
      { task: 'greet', metadata: { [odd]: odd } },
      { task: 'greet', key: odd },
      { task: 'greet', webhook: `https://example.com/${odd}` },
      { task: odd },
      { task: 'greet', queue: odd },
    ]
    for (const body of bodies) {
      const answer = await request('POST', '/v1/jobs', { body })
      expect(answer.status, JSON.stringify(body)).toBeLessThan(500)
    }
    for (const path of ['/v1/jobs?queue=a%00', '/v1/jobs?task=%ED%A0%80', '/v1/jobs?cursor=%00', '/v1/jobs/%00', '/v1/queues/a%00/pause']) {
      expect((await request(path.endsWith('pause') ? 'POST' : 'GET', path)).status, path).toBe(400)
    }
  })
})
