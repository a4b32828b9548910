import { expect, test } from 'vitest'
import { createOffload, createServer } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { serve, TASKS } from './harness.js'

test('/openapi.json describes every route from the schemas the server validates with', async () => {
  const { request } = await serve()
  const answer = await request('GET', '/openapi.json')
  expect(answer.status).toBe(200)
  expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8')
  const document = answer.body
  expect(document).toMatchObject({ openapi: '3.1.0', info: { title: 'Offload HTTP API', version: expect.stringMatching(/^\d+\.\d+\.\d+/) } })
  const operations = Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  )
  expect(operations).toEqual(
    expect.arrayContaining([
      'POST /v1/jobs',
      'GET /v1/jobs',
      'POST /v1/jobs/batch',
      'GET /v1/jobs/{id}',
      'DELETE /v1/jobs/{id}',
      'POST /v1/jobs/{id}/cancel',
      'POST /v1/jobs/{id}/retry',
      'GET /v1/jobs/{id}/events',
      'GET /v1/queues',
      'POST /v1/queues/{queue}/pause',
      'POST /v1/queues/{queue}/resume',
      'GET /v1/schedules',
      'PUT /v1/schedules/{name}',
      'DELETE /v1/schedules/{name}',
      'GET /v1/events',
      'GET /metrics',
      'GET /healthz',
      'GET /readyz',
      'GET /openapi.json',
    ]),
  )
  expect(operations.some((operation) => operation.startsWith('HEAD '))).toBe(false)

  const enqueue = document.paths['/v1/jobs'].post
  expect(enqueue.summary).toBe('Enqueue a job')
  expect(enqueue.security).toEqual([{ bearer: [] }])
  expect(enqueue.description).toContain('Needs a token with the `write` scope')
  expect(enqueue.requestBody).toMatchObject({ required: true, content: { 'application/json': { schema: { required: ['task'], additionalProperties: false } } } })
  expect(Object.keys(enqueue.requestBody.content['application/json'].schema.properties)).toEqual([
    'task', 'payload', 'queue', 'delay', 'runAt', 'priority', 'attempts', 'key', 'webhook', 'metadata', 'group', 'debounce', 'throttle',
  ])
  expect(enqueue.parameters).toEqual([expect.objectContaining({ name: 'idempotency-key', in: 'header', required: false })])
  expect(enqueue.responses['202'].content['application/json'].schema.properties.state.enum).toContain('queued')
  expect(enqueue.responses.default.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' })

  const read = document.paths['/v1/jobs/{id}'].get
  expect(read.parameters).toEqual([
    expect.objectContaining({ name: 'id', in: 'path', required: true }),
    expect.objectContaining({ name: 'wait', in: 'query', required: false, description: expect.stringContaining('Long poll') }),
  ])
  expect(document.paths['/v1/jobs/{id}'].delete.responses['204']).toEqual({ description: 'Deleted.' })
  expect(document.paths['/v1/jobs/{id}/cancel'].post.requestBody.required).toBe(false)
  expect(document.paths['/healthz'].get.security).toEqual([])
  expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
  expect(document.components.schemas.Error.properties.error.required).toEqual(['code', 'message', 'details'])
})

test('createServer builds the same API without listening: inject() answers', async () => {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, tasks: TASKS, logger: false })
  const app = createServer(offload, { logger: false })
  try {
    const created = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { task: 'greet', payload: { name: 'x' } } })
    expect(created.statusCode).toBe(202)
    expect(app.server.listening).toBe(false)
    const read = await app.inject({ method: 'GET', url: created.headers.location as string })
    expect(read.json()).toMatchObject({ task: 'greet', state: 'queued' })
  } finally {
    await app.close()
    await offload.close()
  }
})

test('a route that declares no scope is refused when it is registered', async () => {
  const offload = createOffload({ store: 'sqlite::memory:', logger: false })
  const app = createServer(offload, { logger: false })
  try {
    expect(() => app.get('/v1/unguarded', async () => 'open')).toThrow('GET /v1/unguarded declares no config.scope')
  } finally {
    await app.close()
    await offload.close()
  }
})
