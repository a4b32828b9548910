import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { DASHBOARD_DIR } from '../../src/server/dashboard.js'

/** Debian's Chromium, unless `CHROMIUM_PATH` names another. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Where the browser tests leave screenshots for a person to look at. */
export const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/dashboard')
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A headless Chromium for the dashboard tests; fails plainly when Chromium or the built dashboard is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  if (!existsSync(join(DASHBOARD_DIR, 'index.html'))) throw new Error(`the dashboard is not built (${DASHBOARD_DIR}): npm run build`)
  mkdirSync(ARTIFACTS, { recursive: true })
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
}

/**
 * For a test file: one Chromium for all its tests, and `cleanups` run after each test, last pushed
 * first (so a page closes before its server, the server before its instance).
 */
export function chromiumSuite(): { browser: () => Browser; cleanups: (() => Promise<void>)[] } {
  let browser: Browser | undefined
  const cleanups: (() => Promise<void>)[] = []
  beforeAll(async () => {
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  return { browser: () => browser!, cleanups }
}
