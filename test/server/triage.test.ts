import { expect, test } from 'vitest'
import { openGate, serve, work } from './harness.js'

test('GET /v1/failures groups failed jobs by fingerprint; POST …/retry retries one group; GET /v1/jobs?fingerprint= lists it', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const users = await Promise.all([12, 34, 56].map((n) => offload.enqueue('fail', { reason: `user ${n} not found` })))
  const other = await offload.enqueue('fail', { reason: 'the disk is full' })
  for (const job of [...users, other]) await expect(job.result()).rejects.toThrow()

  const { body } = await request('GET', '/v1/failures')
  expect(body.groups).toHaveLength(2)
  const [group, single] = body.groups
  expect(group).toMatchObject({ name: 'PermanentError', message: 'user <n> not found', count: 3, tasks: ['fail'], queues: ['default'] })
  expect(group.fingerprint).toMatch(/^[0-9a-f]{16}$/)
  expect(group.frame).toContain('harness.ts')
  expect(group.sample.jobId).toBe(users[2]!.id)
  expect(group.sample.message).toBe('user 56 not found')
  expect(group.sample.stack).toContain('PermanentError: user 56 not found')
  expect(Date.parse(group.firstSeenAt)).toBeLessThanOrEqual(Date.parse(group.lastSeenAt))
  expect(single).toMatchObject({ message: 'the disk is full', count: 1 })

  const listed = await request('GET', `/v1/jobs?fingerprint=${group.fingerprint}`)
  expect(listed.body.jobs.map((job: { id: string }) => job.id).sort()).toEqual(users.map((job) => job.id).sort())
  expect((await request('GET', '/v1/failures?task=greet')).body.groups).toEqual([])

  const retried = await request('POST', `/v1/failures/${group.fingerprint}/retry`)
  expect(retried.status).toBe(200)
  expect(retried.body).toEqual({ retried: 3 })
  // They run again (and fail again, on purpose), the other group untouched meanwhile.
  await expect.poll(async () => (await request('GET', '/v1/failures')).body.groups.map((g: { count: number }) => g.count)).toEqual([3, 1])
  for (const job of users) expect((await offload.getJob(job.id))!.attempt).toBe(1)
  expect((await offload.jobEvents(users[0]!.id)).map((event) => event.type)).toContain('retried')

  for (const path of ['/v1/failures/not-hex/retry', '/v1/failures/ABCDEF0123456789/retry']) {
    const answer = await request('POST', path)
    expect(answer.status, path).toBe(400)
  }
  expect((await request('GET', '/v1/jobs?fingerprint=xyz')).status).toBe(400)
  expect((await request('GET', '/v1/failures?limit=0')).status).toBe(400)
  expect((await request('POST', `/v1/failures/${group.fingerprint}/retry`, { body: { queue: 'default', extra: 1 } })).status).toBe(400)
})

test('GET /v1/jobs?key= finds the job that holds an idempotency key', async () => {
  const { request, offload } = await serve()
  const job = await offload.enqueue('greet', { name: 'k' }, { key: 'order-1234' })
  await offload.enqueue('greet', { name: 'other' }, { key: 'order-9999' })
  const { body } = await request('GET', '/v1/jobs?key=order-1234')
  expect(body.jobs.map((found: { id: string }) => found.id)).toEqual([job.id])
  expect((await request('GET', '/v1/jobs?key=order-0000')).body.jobs).toEqual([])
})

test('GET /v1/workers lists live workers with the jobs they run', async () => {
  const { request, offload } = await serve()
  await work(offload)
  const job = await offload.enqueue('gate', { gate: 'workers-route' })
  let worker: any
  await expect
    .poll(async () => {
      const { body } = await request('GET', '/v1/workers')
      worker = body.workers[0]
      return worker?.running.map((running: { id: string }) => running.id)
    })
    .toEqual([job.id])
  expect(worker).toMatchObject({ pid: process.pid, concurrency: 5, queues: expect.arrayContaining(['gates']) })
  expect(worker.running[0]).toMatchObject({ task: 'gate', queue: 'gates', attempt: 1 })
  await expect.poll(async () => (await request('GET', '/v1/workers')).body.workers[0].running[0].progress).toBe(50)
  openGate('workers-route')
  await job.result()
})
