/**
 * `npm run bench`: Offload beside BullMQ, pg-boss and Graphile Worker on this machine, in one run.
 * The peers (and the HTTP step's load generator) are installed apart, in bench/node_modules, so the
 * package never depends on them; a fresh clone installs them here on first run, and a checkout
 * whose bench/package.json gained a dependency since installs again.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const benchDir = fileURLToPath(new URL('.', import.meta.url))
const { dependencies } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
const missing = Object.keys(dependencies).filter((name) => !existsSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)))

if (missing.length > 0) {
  console.log(`bench/node_modules lacks ${missing.join(', ')}: installing the peer queues (npm install --prefix bench)…`)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const installed = spawnSync(npm, ['install', '--prefix', benchDir, '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (installed.status !== 0) {
    console.error(`npm install --prefix bench failed (exit ${installed.status}); the peers cannot run`)
    process.exit(1)
  }
}

const { main } = await import('./lib/main.js')
try {
  await main(process.argv.slice(2))
} catch (error) {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
}
