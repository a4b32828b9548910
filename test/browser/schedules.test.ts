/**
 * The Schedules page in a real browser (Debian's Chromium, headless, through playwright-core)
 * against a real server on a real SQLite file. The screenshot lands in test-artifacts/dashboard/.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { afterEach, expect, test } from 'vitest'
import { createOffload, defineTask, startServer } from '../../src/index.js'
import { DASHBOARD_DIR } from '../../src/server/dashboard.js'
import { tempDb } from '../support/temp.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/dashboard')
const cleanups: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

test('the Schedules page lists each schedule with its cron, time zone, task and next run, and marks a paused one', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  if (!existsSync(join(DASHBOARD_DIR, 'index.html'))) throw new Error(`the dashboard is not built (${DASHBOARD_DIR}): npm run build`)
  const offload = createOffload({ store: `sqlite:${tempDb()}`, tasks: [defineTask('report.build', { queue: 'reports', run: () => {} })], logger: false })
  cleanups.push(() => offload.close())
  await offload.schedule('nightly-report', { task: 'report.build', cron: '0 0 3 * * *', timezone: 'Europe/Paris' })
  await offload.schedule('hourly-sync', { task: 'report.build', cron: '0 * * * *', paused: true })
  const server = await startServer(offload, { port: 0, logger: false })
  cleanups.push(() => server.close())
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] })
  cleanups.push(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(error.message))

  await page.goto(server.url)
  await page.getByTestId('nav-schedules').click()
  const nightly = page.getByTestId('schedule-row-nightly-report')
  await expect.poll(() => nightly.isVisible()).toBe(true)
  const cells = await nightly.locator('th, td').allTextContents()
  expect(cells.slice(0, 4)).toEqual(['nightly-report', '0 0 3 * * *', 'Europe/Paris', 'report.build on reports'])
  // Absolute and relative: "Jan 31, 2030, 03:00:00 (in 5 h)".
  expect(cells[4]).toMatch(/\d.*\(in .+\)$/)
  expect(cells[5]).toBe('—')
  expect(cells[6]).toBe('API')
  expect(await page.getByTestId('schedule-row-hourly-sync').getByTestId('next-run').textContent()).toBe('paused')
  expect(page.url()).toMatch(/#\/schedules$/)
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'schedules.png'), fullPage: true })
  expect(problems, 'errors in the page').toEqual([])
})
