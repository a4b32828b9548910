/**
 * `npm run bench`: Offload beside BullMQ, pg-boss and Graphile Worker on this machine, in one run.
 * The peers are installed apart, in bench/node_modules, so the package never depends on them; a
 * fresh clone installs them here on first run.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const benchDir = fileURLToPath(new URL('.', import.meta.url))

if (!existsSync(new URL('./node_modules', import.meta.url))) {
  console.log('bench/node_modules is missing: installing the peer queues (npm install --prefix bench)…')
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
