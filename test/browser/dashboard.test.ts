/**
 * The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, against
 * a real server on a real SQLite file with a real worker. Screenshots land in
 * test-artifacts/dashboard/ for a person to look at.
 */
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterEach, expect, test } from 'vitest'
import { createOffload, defineTask, startServer, type ApiToken, type Offload, type RunningServer, type ServerOptions } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { ARTIFACTS, chromiumSuite } from './chromium.js'

/** The downstream the `charge` task calls: down until a test brings it back. */
let paymentsUp = false

class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError'
}

const TASKS = [
  defineTask('greet', { queue: 'greetings', run: (input: { name: string }) => ({ greeting: `hello, ${input.name}` }) }),
  defineTask('charge', {
    queue: 'payments',
    attempts: 1,
    run: (input: { card: number }) => {
      if (!paymentsUp) throw new PaymentDeclinedError(`card ${input.card} declined by the gateway`)
      return { charged: input.card }
    },
  }),
  defineTask('render', {
    queue: 'pages',
    attempts: 1,
    run: (input: { html: string; fail?: boolean }) => {
      if (input.fail) throw new Error(input.html)
      return { html: input.html }
    },
  }),
]

const { browser, cleanups } = chromiumSuite()

afterEach(() => {
  paymentsUp = false
})

interface Setup {
  offload: Offload
  server: RunningServer
  page: Page
  /** A request to the API as a script would make it (no browser headers), with a token if given. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<any>
}

async function setup(options: { server?: ServerOptions; viewport?: { width: number; height: number } } = {}): Promise<Setup> {
  const offload = createOffload({ store: `sqlite:${tempDb()}`, tasks: TASKS, logger: false })
  cleanups.push(() => offload.close())
  const server = await startServer(offload, { port: 0, logger: false, ...options.server })
  cleanups.push(() => server.close())
  const context = await browser().newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } })
  cleanups.push(() => context.close())
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(error.message))
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) problems.push(message.text())
  })
  cleanups.push(async () => expect(problems, 'errors in the page').toEqual([]))
  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const response = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await response.text()
    return text === '' ? undefined : JSON.parse(text)
  }
  return { offload, server, page, api }
}

async function startWorker(offload: Offload): Promise<void> {
  const worker = await offload.work({ handleSignals: false, concurrency: 4, pollInterval: '50ms' })
  cleanups.push(() => worker.stop({ graceMs: 0 }))
}

/** The little of the DOM the tests read inside the page (the test program itself has no DOM types). */
interface Browserish {
  document: { cookie: string; activeElement: { getAttribute(name: string): string | null } | null; documentElement: { scrollWidth: number } }
  location: { hash: string }
}

const byTestId = (page: Page, id: string) => page.getByTestId(id)
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })

test('the overview shows every queue and follows enqueues and completions live, without a reload', async () => {
  const { offload, server, page, api } = await setup()
  await page.goto(server.url)
  await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1))

  for (const name of ['ada', 'grace', 'edsger']) await api('POST', '/v1/jobs', { task: 'greet', payload: { name } })
  await expect.poll(() => byTestId(page, 'count-greetings-queued').textContent()).toBe('3')

  await startWorker(offload)
  await expect.poll(() => byTestId(page, 'count-greetings-completed').textContent()).toBe('3')
  await expect.poll(() => byTestId(page, 'count-greetings-queued').textContent()).toBe('0')
  // The same page all along: the counts came over the event stream.
  expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1)
  await expect.poll(() => byTestId(page, 'chart-throughput').isVisible()).toBe(true)
  await shot(page, 'overview')

  await byTestId(page, 'nav-workers').click()
  const [worker] = await offload.listWorkers()
  await expect.poll(() => byTestId(page, `worker-row-${worker!.id}`).isVisible()).toBe(true)
  await shot(page, 'workers')
})

test('a failed job: its error and stack on the detail page, Retry, and it completes before your eyes', async () => {
  const { offload, server, page, api } = await setup()
  await startWorker(offload)
  const job = await offload.enqueue('charge', { card: 4242 })
  await expect(job.result()).rejects.toThrow('declined')

  await page.goto(`${server.url}/#/jobs?state=failed`)
  await byTestId(page, `job-row-${job.id}`).getByRole('link').first().click()
  await expect.poll(() => byTestId(page, 'job-state').textContent()).toBe('failed')
  const error = byTestId(page, 'job-error-1')
  expect(await error.textContent()).toContain('PaymentDeclinedError')
  expect(await error.textContent()).toContain('card 4242 declined by the gateway')
  expect(await byTestId(page, 'job-failure-group').getAttribute('href')).toMatch(/^#\/jobs\?state=failed&fingerprint=[0-9a-f]{16}$/)
  await shot(page, 'job-failed')

  paymentsUp = true
  await byTestId(page, 'action-retry').click()
  await expect.poll(() => byTestId(page, 'job-state').textContent()).toBe('completed')
  expect(await byTestId(page, 'job-result').textContent()).toContain('4242')
  expect((await api('GET', `/v1/jobs/${job.id}`)).state).toBe('completed')
  await shot(page, 'job-retried')
})

test('failure triage groups failures by fingerprint, and retrying a group retries exactly its jobs', async () => {
  const { offload, server, page, api } = await setup()
  await startWorker(offload)
  const declined = await Promise.all([4242, 1111, 5555].map((card) => offload.enqueue('charge', { card })))
  const broken = await Promise.all(['home', 'about'].map((name) => offload.enqueue('render', { html: `template "${name}" not found`, fail: true })))
  for (const job of [...declined, ...broken]) await expect(job.result()).rejects.toThrow()

  const { groups } = await api('GET', '/v1/failures')
  expect(groups.map((group: { count: number }) => group.count)).toEqual([3, 2])
  const [payments, pages] = groups as { fingerprint: string; message: string }[]
  expect(payments!.message).toBe('card <n> declined by the gateway')

  await page.goto(`${server.url}/#/failures`)
  await expect.poll(() => byTestId(page, `failure-count-${payments!.fingerprint}`).textContent()).toBe('3')
  expect(await byTestId(page, `failure-count-${pages!.fingerprint}`).textContent()).toBe('2')
  await shot(page, 'failures')

  paymentsUp = true
  await byTestId(page, `failure-retry-${payments!.fingerprint}`).click()
  await byTestId(page, 'confirm-yes').click()
  for (const job of declined) await job.result({ timeout: '10s' })
  await expect.poll(() => byTestId(page, `failure-group-${payments!.fingerprint}`).count()).toBe(0)
  // The other group is untouched.
  expect(await byTestId(page, `failure-count-${pages!.fingerprint}`).textContent()).toBe('2')
  for (const job of broken) expect((await offload.getJob(job.id))!.state).toBe('failed')
})

test('markup in a payload, a result or an error message is shown as text and never runs', async () => {
  const { offload, server, page } = await setup()
  await startWorker(offload)
  const attack = `<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>`
  const job = await offload.enqueue('render', { html: attack })
  await job.result()
  const failing = await offload.enqueue('render', { html: attack, fail: true })
  await expect(failing.result()).rejects.toThrow()

  const headers = (await fetch(server.url)).headers
  expect(headers.get('content-security-policy')).toContain("script-src 'self'")

  await page.goto(`${server.url}/#/jobs/${job.id}`)
  await expect.poll(() => byTestId(page, 'job-payload').textContent()).toContain('<script>window.pwned = 1</script>')
  expect(await byTestId(page, 'job-result').textContent()).toContain('<img src=x onerror=')
  await page.goto(`${server.url}/#/jobs/${failing.id}`)
  await expect.poll(() => byTestId(page, 'job-error-1').textContent()).toContain('<img src=x')
  await page.goto(`${server.url}/#/failures`)
  await expect.poll(() => page.getByText('<b>bold</b>', { exact: false }).count()).toBeGreaterThan(0)
  await shot(page, 'xss')

  expect(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).toBeUndefined()
  expect(await page.locator('main img, main b, main script').count()).toBe(0)
})

test('sign in with a token: a read-only token sees no controls and is refused if it tries; admin pauses a queue', async () => {
  const READ = 'read-token-0123456789abcdef'
  const ADMIN = 'admin-token-0123456789abcdef'
  const tokens: ApiToken[] = [
    { name: 'viewer', scope: 'read', token: READ },
    { name: 'ops', scope: 'admin', token: ADMIN },
  ]
  const { offload, server, page, api } = await setup({ server: { tokens } })
  await startWorker(offload)
  const job = await offload.enqueue('charge', { card: 1 })
  await expect(job.result()).rejects.toThrow()

  await page.goto(server.url)
  await byTestId(page, 'signin-token').fill(READ)
  await byTestId(page, 'signin-submit').click()
  await expect.poll(() => byTestId(page, 'count-payments-failed').textContent()).toBe('1')
  expect(await page.evaluate(() => (globalThis as unknown as Browserish).document.cookie)).not.toContain('offload_session')
  expect(await byTestId(page, 'queue-pause-payments').count()).toBe(0)
  await page.goto(`${server.url}/#/jobs/${job.id}`)
  await expect.poll(() => byTestId(page, 'job-state').textContent()).toBe('failed')
  expect(await page.locator('[data-testid^="action-"]').count()).toBe(0)
  await shot(page, 'read-only')
  // Past the hidden button, the API says no.
  const status = await page.evaluate(async (id) => {
    const response = await fetch(`/v1/jobs/${id}/retry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    return response.status
  }, job.id)
  expect(status).toBe(403)
  expect((await api('GET', `/v1/jobs/${job.id}`, undefined, ADMIN)).state).toBe('failed')

  await byTestId(page, 'signout').click()
  await byTestId(page, 'signin-token').fill(ADMIN)
  await byTestId(page, 'signin-submit').click()
  await page.goto(server.url)
  await byTestId(page, 'queue-pause-payments').click()
  await expect.poll(async () => (await offload.listQueues()).find((queue) => queue.queue === 'payments')?.paused).toBe(true)
  await expect.poll(() => byTestId(page, 'queue-resume-payments').isVisible()).toBe(true)
})

test('keyboard only and a phone-sized screen', async () => {
  const { offload, server, page, api } = await setup({ viewport: { width: 375, height: 800 } })
  await startWorker(offload)
  for (const card of [1, 2]) await api('POST', '/v1/jobs', { task: 'charge', payload: { card } })
  await page.goto(server.url)
  await expect.poll(() => byTestId(page, 'count-payments-failed').textContent()).toBe('2')
  await shot(page, 'phone-overview')

  // Tab to the Jobs link and follow it with Enter.
  let focused: string | null = null
  for (let i = 0; i < 20 && focused !== 'nav-jobs'; i++) {
    await page.keyboard.press('Tab')
    focused = await page.evaluate(() => (globalThis as unknown as Browserish).document.activeElement?.getAttribute('data-testid') ?? null)
  }
  expect(focused).toBe('nav-jobs')
  await page.keyboard.press('Enter')
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as Browserish).location.hash)).toMatch(/^#\/jobs/)
  await expect.poll(() => page.locator('[data-testid^="job-row-"]').count()).toBe(2)
  // Nothing wider than the screen but the tables' own scrolling wrappers.
  expect(await page.evaluate(() => (globalThis as unknown as Browserish).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
  await shot(page, 'phone-jobs')
})
