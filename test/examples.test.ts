/**
 * Runs examples/tasks.ts the way `npm start` does, in-process: keeps the examples from rotting and
 * holds them to the behaviour each one is there to show.
 */
import { afterEach, expect, test } from 'vitest'
import { createOffload, isOffloadError, type JobEvent, type Offload } from '../src/index.js'
import { buildReport, deliverWebhook, resizeImage, seed, sendEmail } from '../examples/tasks.js'
import { tempDb } from './support/temp.js'

let offload: Offload | undefined
afterEach(async () => {
  await offload?.close()
  offload = undefined
})

test('every seeded example job reaches the outcome its example is there to show', async () => {
  offload = createOffload({ store: `sqlite:${tempDb()}`, logger: false, tasks: [resizeImage, sendEmail, buildReport, deliverWebhook] })
  await offload.work({ handleSignals: false })
  const said: string[] = []
  await seed(offload, (message) => said.push(message))

  const { jobs, nextCursor } = await offload.listJobs({ limit: 100 })
  expect(nextCursor).toBeUndefined()
  // One job per enqueue, except the second with the key 'welcome:ada'.
  expect(jobs).toHaveLength(7)
  expect(said).toEqual([expect.stringMatching(/^enqueue with key 'welcome:ada' again: existing=true, job /)])
  // Wait for each job's end through result(), which follows the store's notes; a failure is an outcome here.
  await Promise.all(jobs.map((job) => offload!.result(job.id, { timeout: '30s' }).catch((error: unknown) => {
    if (!isOffloadError(error, 'JOB_FAILED')) throw error
  })))

  const finished = await offload.listJobs({ limit: 100 })
  const byTask = (task: string) => finished.jobs.filter((job) => job.task === task)
  const timeline = async (id: string): Promise<string[]> => (await offload!.jobEvents(id)).map((event: JobEvent) => event.type)

  for (const job of byTask('image.resize')) {
    expect(job).toMatchObject({ state: 'completed', attempt: 1, progress: 100 })
    expect(job.result).toMatchObject({ width: (job.payload as { width: number }).width })
    const events = await offload.jobEvents(job.id)
    expect(events.filter((event) => event.type === 'progress').map((event) => event.data?.progress)).toEqual([25, 50, 75, 100])
    expect(events.filter((event) => event.type === 'log')).toHaveLength(2)
  }
  expect(byTask('image.resize').find((job) => job.priority === 10)).toBeDefined()

  const emails = byTask('email.send')
  expect(emails).toHaveLength(2)
  for (const job of emails) {
    // Fails once, succeeds on the retry after the fixed backoff.
    expect(job).toMatchObject({ state: 'completed', attempt: 2, result: { messageId: `<${job.id}@example.com>` } })
    expect(job.errors).toEqual([expect.objectContaining({ attempt: 1, message: 'connection reset by smtp.example.com' })])
  }
  expect(await timeline(emails.find((job) => job.key === 'welcome:ada')!.id)).toEqual(['enqueued', 'started', 'retrying', 'promoted', 'started', 'completed'])
  // The delayed one waited in 'scheduled' first.
  expect(await timeline(emails.find((job) => job.key === undefined)!.id)).toEqual([
    'enqueued', 'promoted', 'started', 'retrying', 'promoted', 'started', 'completed',
  ])

  const [report] = byTask('report.build')
  expect(report).toMatchObject({ state: 'completed', attempt: 1, result: { rows: 1234 } })
  // It snoozes while its data is not ready, which it is not when a worker is quick (the usual
  // case, but a test must not bet on a machine's speed): either way it ends with one attempt spent.
  expect([
    ['enqueued', 'started', 'snoozed', 'promoted', 'started', 'completed'],
    ['enqueued', 'started', 'completed'],
  ]).toContainEqual(await timeline(report!.id))

  const webhooks = byTask('webhook.deliver')
  expect(webhooks.find((job) => job.state === 'completed')).toMatchObject({ attempt: 1, result: { status: 202, event: 'order.paid' } })
  // A permanent error fails the job on its first attempt, with four attempts unspent.
  expect(webhooks.find((job) => job.state === 'failed')).toMatchObject({
    attempt: 1,
    maxAttempts: 5,
    errors: [expect.objectContaining({ name: 'PermanentError', message: expect.stringContaining('webhooks need https') })],
  })
})
