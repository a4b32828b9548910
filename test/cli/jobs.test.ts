import { describe, expect, test } from 'vitest'
import { STORE_KINDS } from '../support/stores.js'
import { lines, runCli, runJson } from './cli-process.js'

const TASKS = 'test/fixtures/cli-tasks.ts'


describe.each(STORE_KINDS)('%s store', (_name, newStore) => {
  test('migrate applies the schema once and then reports it current', async () => {
    const store = newStore()
    const first = await runCli(['migrate', '--store', store])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^applied migrations? [\d, ]+: .* is at schema version \d+\n$/)
    const again = await runJson(['migrate', '--store', store])
    expect(again).toEqual({ store: expect.any(String), applied: [], version: expect.any(Number) })
    expect(store).toContain(again.store.replace(/ \(schema \w+\)$/, ''))
    expect(again.version).toBeGreaterThan(0)
  })

  test('enqueue, then jobs and job show the job, its payload, options and timeline', async () => {
    const store = newStore()
    const common = ['--store', store]
    const enqueued = await runJson(['enqueue', 'greet', '{"name":"ada"}', '--tasks', TASKS, ...common, '--priority', '7', '--attempts', '2', '--metadata', '{"by":"test"}'])
    expect(enqueued).toEqual({ id: expect.any(String), task: 'greet', queue: 'greetings', state: 'queued', existing: false })
    const delayed = await runJson(['enqueue', 'reject', '-', '--tasks', TASKS, ...common, '--delay', '1h', '--queue', 'later'], '{"reason":"stdin"}')
    expect(delayed).toMatchObject({ task: 'reject', queue: 'later', state: 'scheduled' })

    const page = await runJson(['jobs', ...common])
    expect(page.nextCursor).toBeUndefined()
    // Newest first.
    expect(page.jobs.map((job: { id: string }) => job.id)).toEqual([delayed.id, enqueued.id])
    expect(page.jobs[1]).toMatchObject({ task: 'greet', state: 'queued', priority: 7, maxAttempts: 2, payload: { name: 'ada' }, metadata: { by: 'test' } })
    expect(page.jobs[0]).toMatchObject({ payload: { reason: 'stdin' }, queue: 'later' })

    const filtered = await runJson(['jobs', ...common, '--state', 'scheduled,failed'])
    expect(filtered.jobs.map((job: { id: string }) => job.id)).toEqual([delayed.id])
    const firstPage = await runJson(['jobs', ...common, '--limit', '1'])
    expect(firstPage.jobs.map((job: { id: string }) => job.id)).toEqual([delayed.id])
    const secondPage = await runJson(['jobs', ...common, '--limit', '1', '--cursor', firstPage.nextCursor])
    expect(secondPage.jobs.map((job: { id: string }) => job.id)).toEqual([enqueued.id])

    const detail = await runJson(['job', enqueued.id, ...common])
    expect(detail.job).toMatchObject({ id: enqueued.id, state: 'queued', payload: { name: 'ada' } })
    expect(detail.events).toEqual([expect.objectContaining({ jobId: enqueued.id, type: 'enqueued', state: 'queued' })])

    const counts = await runJson(['jobs', '--counts', ...common])
    expect(counts.total).toBe(2)
    expect(counts.counts).toEqual(
      expect.arrayContaining([
        { queue: 'greetings', state: 'queued', count: 1 },
        { queue: 'later', state: 'scheduled', count: 1 },
      ]),
    )

    // The people's versions of the same: a table with a footer, and details with a timeline.
    const table = await runCli(['jobs', ...common, '--limit', '1'])
    expect(table.code).toBe(0)
    expect(lines(table.stdout)[0]).toMatch(/^ID\s+TASK\s+QUEUE\s+STATE\s+ATTEMPT\s+CREATED\s+FINISHED\s+ERROR$/)
    expect(table.stdout).toContain(`next page: offload jobs --limit 1 --cursor ${firstPage.nextCursor}`)
    const shown = await runCli(['job', enqueued.id, ...common])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/state\s+queued \(attempt 0\/2\)/)
    expect(shown.stdout).toMatch(/timeline\n\s+\d\d:\d\d:\d\d\.\d{3}\s+enqueued/)
  })

  test('an idempotency key held by an unfinished job returns that job', async () => {
    const store = newStore()
    const args = ['enqueue', 'greet', '{"name":"ada"}', '--tasks', TASKS, '--store', store, '--key', 'welcome:ada', '--delay', '1h']
    const first = await runJson(args)
    const second = await runCli(args)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain(`key 'welcome:ada' is held by job ${first.id}`)
    const third = await runJson(args)
    expect(third).toMatchObject({ id: first.id, existing: true })
    expect((await runJson(['jobs', '--store', store])).jobs).toHaveLength(1)
  })

  test('cancel and retry move a job through cancelled → queued; wrong states are bad input', async () => {
    const store = newStore()
    const common = ['--store', store]
    const { id } = await runJson(['enqueue', 'greet', '{"name":"ada"}', '--tasks', TASKS, ...common, '--delay', '1h'])

    const cancelled = await runJson(['cancel', id, ...common])
    expect(cancelled.job).toMatchObject({ id, state: 'cancelled' })
    const again = await runCli(['cancel', id, ...common])
    expect(again.code).toBe(2)
    expect(lines(again.stderr)).toEqual([expect.stringMatching(/^offload: .*/)])

    const retried = await runCli(['retry', id, ...common])
    expect(retried.code).toBe(0)
    expect(retried.stdout).toMatch(new RegExp(`^job ${id} \\(greet\\) is queued again`))
    const retryQueued = await runCli(['retry', id, ...common, '--json'])
    expect(retryQueued.code).toBe(2)
    expect(retryQueued.stdout).toBe('')

    const detail = await runJson(['job', id, ...common])
    expect(detail.job.state).toBe('queued')
    expect(detail.events.map((event: { type: string }) => event.type)).toEqual(['enqueued', 'cancelled', 'retried'])
  })
})
