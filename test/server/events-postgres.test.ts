import { expect, test } from 'vitest'
import { createOffload, type Offload } from '../../src/index.js'
import { tempStoreUrl } from '../support/postgres.js'
import { SseClient } from './events-client.js'
import { closeAfterTest, startTestServer } from './events-server.js'


function instance(store: string): Offload {
  const offload = createOffload({ store, logger: false })
  closeAfterTest(offload)
  offload.task('quick', { run: (input: { n: number }) => input.n })
  return offload
}

test('on PostgreSQL, with writers in two instances, every stream gets the log in seq order with no gap or duplicate', async () => {
  const store = tempStoreUrl('sse')
  const served = instance(store)
  // Another instance on the same database: its commits interleave with the server's own.
  const other = instance(store)
  const server = await startTestServer(served)
  const live = await SseClient.open(`${server.url}/v1/events`)
  await served.work({ handleSignals: false, concurrency: 10 })
  await other.work({ handleSignals: false, concurrency: 10 })
  const produce = (offload: Offload, from: number) =>
    (async () => {
      for (let round = 0; round < 10; round++) {
        await offload.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ task: 'quick', payload: { n: from + round * 10 + i } })))
      }
    })()
  const load = Promise.all([produce(served, 0), produce(other, 1000)])
  await live.waitFor(() => live.messages.length >= 100, 'a hundred events')
  // Joins mid-way: the whole log replayed, then live, while the writers go on.
  const replayed = await SseClient.open(`${server.url}/v1/events?after=0`)
  const dropped = await SseClient.open(`${server.url}/v1/events`)
  await dropped.waitFor(() => dropped.messages.length >= 20, 'twenty events')
  await dropped.close()
  const resumed = await SseClient.open(`${server.url}/v1/events`, { 'last-event-id': dropped.lastEventId! })
  await load
  const completed = (client: SseClient) => () => client.events.filter((event) => event.type === 'completed').length === 200
  await replayed.waitFor(completed(replayed), 'all 200 completions')
  await live.waitFor(completed(live), 'all 200 completions')

  const log = (await served.store.eventList({ after: 0, limit: 10_000 })).map((event) => event.seq)
  expect(replayed.seqs).toEqual(log)
  expect(live.seqs).toEqual(log.slice(log.indexOf(live.seqs[0]!)))
  await resumed.waitFor(() => resumed.seqs.at(-1) === log.at(-1), 'the last event')
  expect([...dropped.seqs, ...resumed.seqs]).toEqual(log.slice(log.indexOf(dropped.seqs[0]!)))
})
