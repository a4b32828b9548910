/**
 * The dashboard's Breakers page in a real browser (see dashboard.test.ts): a task whose downstream
 * is down opens its breaker; the page shows it open, a read-only session sees no Reset button, an
 * admin's Reset closes it. Screenshots land in test-artifacts/dashboard/.
 */
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { createOffload, defineTask, startServer, type ApiToken } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { ARTIFACTS, chromiumSuite } from './chromium.js'

const READ = 'r'.repeat(32)
const ADMIN = 'a'.repeat(32)
const TOKENS: ApiToken[] = [
  { name: 'viewer', scope: 'read', token: READ },
  { name: 'ops', scope: 'admin', token: ADMIN },
]

/** Its downstream is down for good: two failures open the breaker for an hour. */
const charge = defineTask('charge', {
  queue: 'payments',
  attempts: 1,
  breaker: { minVolume: 2, cooldown: '1h' },
  run: () => {
    throw new Error('the payment gateway answered 503')
  },
})

const { browser, cleanups } = chromiumSuite()

test('an open breaker on the Breakers page: read-only sees it, an admin resets it and it shows closed', async () => {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, tasks: [charge], logger: false })
  cleanups.push(() => offload.close())
  const server = await startServer(offload, { port: 0, logger: false, tokens: TOKENS })
  cleanups.push(() => server.close())
  const worker = await offload.work({ handleSignals: false, concurrency: 1, pollInterval: '50ms' })
  cleanups.push(() => worker.stop({ graceMs: 0 }))
  const jobs = await offload.enqueueMany([{ task: 'charge' }, { task: 'charge' }])
  for (const job of jobs) await expect(job.result()).rejects.toThrow()
  await expect.poll(async () => (await offload.listBreakers())[0]?.state, { timeout: 10_000 }).toBe('open')
  // Held back: a job enqueued now stays queued.
  const held = await offload.enqueue('charge')

  const context = await browser().newContext({ viewport: { width: 1280, height: 800 } })
  cleanups.push(() => context.close())
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(error.message))
  cleanups.push(async () => expect(problems, 'errors in the page').toEqual([]))

  await page.goto(server.url)
  await page.getByTestId('signin-token').fill(READ)
  await page.getByTestId('signin-submit').click()
  await page.getByTestId('nav-breakers').click()
  await expect.poll(() => page.getByTestId('breaker-charge-state').textContent()).toBe('open')
  expect(await page.getByTestId('breaker-charge').textContent()).toContain('100%')
  expect(await page.getByTestId('breaker-charge-reset').count()).toBe(0)
  await page.screenshot({ path: join(ARTIFACTS, 'breakers-open.png'), fullPage: true })

  await page.getByTestId('signout').click()
  await page.getByTestId('signin-token').fill(ADMIN)
  await page.getByTestId('signin-submit').click()
  await page.goto(`${server.url}/#/breakers`)
  expect(await offload.getJob(held.id)).toMatchObject({ state: 'queued', attempt: 0 })
  await page.getByTestId('breaker-charge-reset').click()
  await expect.poll(() => page.getByTestId('breaker-charge-state').textContent()).toBe('closed')
  expect((await offload.listBreakers())[0]).toMatchObject({ state: 'closed', transitions: { open: 1, closed: 1 } })
  await page.screenshot({ path: join(ARTIFACTS, 'breakers-reset.png'), fullPage: true })
  // The job held back runs again once the worker sees the breaker closed (and fails: the gateway is still down).
  await expect(held.result({ timeout: '10s' })).rejects.toThrow(/503/)
})
