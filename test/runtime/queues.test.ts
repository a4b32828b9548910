import { describe, expect, test } from 'vitest'
import { createOffload, isOffloadError, QueueFullError, type Offload, type OffloadConfig } from '../../src/index.js'
import { openInstance, rejection } from '../support/instances.js'
import { tempDb } from '../support/temp.js'

function open(config: OffloadConfig = {}, path = tempDb()): Offload {
  return openInstance(config, `sqlite:${path}`)
}

describe('maxQueued', () => {
  test('an enqueue past the cap is a QueueFullError and writes nothing; other queues are not capped', async () => {
    const offload = open({ queues: { mail: { maxQueued: 2 } } })
    const send = offload.task('mail.send', { queue: 'mail', run: () => {} })
    const other = offload.task('other', { run: () => {} })
    await send.enqueue(undefined)
    await send.enqueue(undefined)
    const error = await rejection(send.enqueue(undefined))
    expect(error).toBeInstanceOf(QueueFullError)
    expect(isOffloadError(error, 'QUEUE_FULL')).toBe(true)
    expect(error).toMatchObject({ name: 'QueueFullError', queue: 'mail', limit: 2, queued: 2, details: { queue: 'mail', limit: 2, queued: 2 } })
    // A batch that would cross the cap is refused whole.
    await expect(offload.enqueueMany([{ task: 'other' }, { task: 'mail.send' }])).rejects.toBeInstanceOf(QueueFullError)
    expect((await offload.listJobs()).jobs).toHaveLength(2)
    await other.enqueue(undefined)
    await other.enqueue(undefined)
    await other.enqueue(undefined)
    // Delayed jobs wait in `scheduled`: they do not count against the cap yet.
    await send.enqueue(undefined, { delay: '1h' })
  })

  test('room comes back as workers take jobs', async () => {
    const offload = open({ queues: { mail: { maxQueued: 1 } } })
    const send = offload.task('mail.send', { queue: 'mail', run: () => 'sent' })
    const first = await send.enqueue(undefined)
    await expect(send.enqueue(undefined)).rejects.toBeInstanceOf(QueueFullError)
    await offload.work({ handleSignals: false, concurrency: 1 })
    await first.result({ timeout: '10s' })
    await send.enqueue(undefined)
  })

  test('bad caps are refused when the instance is created', () => {
    expect(() => createOffload({ store: 'sqlite::memory:', queues: { mail: { maxQueued: 0 } } })).toThrow(/maxQueued must be an integer/)
    expect(() => createOffload({ store: 'sqlite::memory:', queues: { mail: { maxQueue: 5 } as never } })).toThrow(/did you mean 'maxQueued'/)
    expect(() => createOffload({ store: 'sqlite::memory:', queues: { 'bad name': { maxQueued: 5 } } })).toThrow(/queue name/)
  })
})

describe('pause and resume', () => {
  test('a paused queue is not claimed from, by a worker in another instance too, until it is resumed', async () => {
    const path = tempDb()
    const producer = open({}, path)
    const worker = open({}, path)
    const runs: string[] = []
    for (const instance of [producer, worker]) {
      instance.task('a.job', { queue: 'a', run: (input: string) => void runs.push(input) })
      instance.task('b.job', { queue: 'b', run: (input: string) => void runs.push(input) })
    }
    await producer.pauseQueue('a')
    await worker.work({ handleSignals: false, pollInterval: '50ms' })
    const held = await producer.enqueue('a.job', 'a1')
    const free = await producer.enqueue('b.job', 'b1')
    await free.result({ timeout: '10s' })
    expect(runs).toEqual(['b1'])
    expect((await producer.getJob(held.id))?.state).toBe('queued')
    const listed = await producer.listQueues()
    expect(listed.find((queue) => queue.queue === 'a')).toMatchObject({ paused: true, counts: { queued: 1 } })
    expect(listed.find((queue) => queue.queue === 'a')?.oldestQueuedAt).toBeInstanceOf(Date)
    expect(listed.find((queue) => queue.queue === 'b')).toMatchObject({ paused: false, counts: { completed: 1, queued: 0 } })
    await producer.resumeQueue('a')
    await held.result({ timeout: '10s' })
    expect(runs).toEqual(['b1', 'a1'])
  })

  test('queue names are checked before anything is written', async () => {
    const offload = open()
    await expect(offload.pauseQueue('no spaces')).rejects.toMatchObject({ code: 'INVALID_NAME' })
    expect(await offload.listQueues()).toEqual([])
  })
})

describe('waitForJob', () => {
  test('resolves with the finished job whatever its outcome', async () => {
    const offload = open()
    offload.task('ok', { run: () => 42 })
    offload.task('bad', { attempts: 1, run: () => Promise.reject(new Error('nope')) })
    await offload.work({ handleSignals: false })
    const ok = await offload.enqueue('ok')
    const bad = await offload.enqueue('bad')
    expect(await offload.waitForJob(ok.id, { timeout: '10s' })).toMatchObject({ id: ok.id, state: 'completed', result: 42 })
    expect(await offload.waitForJob(bad.id, { timeout: '10s' })).toMatchObject({ id: bad.id, state: 'failed', errors: [{ message: 'nope' }] })
  })

  test('TIMEOUT when the job does not finish in time, ABORTED on the signal, JOB_NOT_FOUND for no such job', async () => {
    const offload = open()
    offload.task('idle', { run: () => {} })
    const job = await offload.enqueue('idle')
    await expect(offload.waitForJob(job.id, { timeout: '50ms' })).rejects.toMatchObject({ code: 'TIMEOUT', details: { id: job.id } })
    const controller = new AbortController()
    const waiting = offload.waitForJob(job.id, { signal: controller.signal })
    controller.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' })
    await expect(offload.waitForJob('0190f5e4-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' })
  })
})

describe('deleteJob', () => {
  test('deletes a finished job and its timeline; an unfinished one is INVALID_STATE', async () => {
    const offload = open()
    offload.task('t', { run: () => {} })
    const job = await offload.enqueue('t')
    await expect(offload.deleteJob(job.id)).rejects.toMatchObject({ code: 'INVALID_STATE', message: /cancel it first/ })
    await offload.cancelJob(job.id)
    await offload.deleteJob(job.id)
    expect(await offload.getJob(job.id)).toBeUndefined()
    expect(await offload.jobEvents(job.id)).toEqual([])
    await expect(offload.deleteJob(job.id)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' })
  })
})

describe('webhook options', () => {
  test('a job with a webhook needs a signing secret, and the URL must be http(s) without credentials', async () => {
    const saved = process.env.OFFLOAD_WEBHOOK_SECRET
    delete process.env.OFFLOAD_WEBHOOK_SECRET
    try {
      const bare = open()
      bare.task('t', { run: () => {} })
      await expect(bare.enqueue('t', null, { webhook: 'http://127.0.0.1:9/hook' })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: /signing secret/ })
    } finally {
      if (saved !== undefined) process.env.OFFLOAD_WEBHOOK_SECRET = saved
    }
    const signed = open({ webhooks: { secret: 'a-secret-of-16-chars' } })
    signed.task('t', { run: () => {} })
    for (const url of ['ftp://example.com/x', 'http://user:pw@example.com/x', 'not a url', 42]) {
      await expect(signed.enqueue('t', null, { webhook: url as string })).rejects.toMatchObject({ code: 'INVALID_OPTION', details: { option: 'webhook' } })
    }
    const handle = await signed.enqueue('t', null, { webhook: 'https://example.com/hook?x=1' })
    expect((await signed.getJob(handle.id))?.webhook).toBe('https://example.com/hook?x=1')
    expect((await signed.listJobs()).jobs).toHaveLength(1)
  })

  test('a short secret and unknown webhook options are refused at creation', () => {
    expect(() => createOffload({ store: 'sqlite::memory:', webhooks: { secret: 'short' } })).toThrow(/at least 16 characters/)
    expect(() => createOffload({ store: 'sqlite::memory:', webhooks: { secrets: 'x' } as never })).toThrow(/did you mean 'secret'/)
  })

  test("a task's webhook is the default of its jobs", async () => {
    const offload = open({ webhooks: { secret: 'a-secret-of-16-chars' } })
    offload.task('t', { webhook: 'https://example.com/default', run: () => {} })
    const plain = await offload.enqueue('t')
    const own = await offload.enqueue('t', null, { webhook: 'https://example.com/own' })
    expect((await offload.getJob(plain.id))?.webhook).toBe('https://example.com/default')
    expect((await offload.getJob(own.id))?.webhook).toBe('https://example.com/own')
  })
})
