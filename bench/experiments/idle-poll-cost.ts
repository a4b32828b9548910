/**
 * What an idle Offload worker's change polling costs: CPU time over 5 s with nothing to do, for
 * the store's `changePollMs` 2 (today) and 1.
 *   npx tsx bench/experiments/idle-poll-cost.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOffload, SqliteStore } from '../../src/index.js'
import { sleep } from '../lib/clock.js'

const dir = mkdtempSync(join(tmpdir(), 'offload-idle-poll-'))
try {
  for (const changePollMs of [2, 1]) {
    const store = new SqliteStore({ path: join(dir, `idle-${changePollMs}.db`), changePollMs })
    const offload = createOffload({ store, logger: false })
    offload.task('bench.noop', { queue: 'bench', run: () => {} })
    await offload.work({ concurrency: 50, handleSignals: false })
    await sleep(500)
    const before = process.cpuUsage()
    await sleep(5000)
    const used = process.cpuUsage(before)
    console.log(`changePollMs ${changePollMs}: idle worker uses ${(((used.user + used.system) / 5_000_000) * 100).toFixed(2)}% of a core`)
    await offload.close()
    await store.close()
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
