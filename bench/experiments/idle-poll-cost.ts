/**
 * What an idle Offload worker's change watching costs: CPU time over 5 s with nothing to do, for
 * each `changePollMs` given (default 2 and 1). With the -wal watch healthy (Linux, a file store)
 * the poll runs only every 50 ms whatever `changePollMs` says; without a watch, every `changePollMs`.
 * Repeats each measurement `--rounds` times and prints each figure and their median.
 *   npx tsx bench/experiments/idle-poll-cost.ts [--poll-ms 2,1] [--rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOffload, SqliteStore } from '../../src/index.js'
import { sleep } from '../lib/clock.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : args[at + 1]!
}
const POLLS = option('--poll-ms', '2,1').split(',').map(Number)
const ROUNDS = Number(option('--rounds', '3'))

const dir = mkdtempSync(join(tmpdir(), 'offload-idle-poll-'))
try {
  for (const changePollMs of POLLS) {
    const shares: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const store = new SqliteStore({ path: join(dir, `idle-${changePollMs}-${round}.db`), changePollMs })
      const offload = createOffload({ store, logger: false })
      offload.task('bench.noop', { queue: 'bench', run: () => {} })
      await offload.work({ concurrency: 50, handleSignals: false })
      await sleep(500)
      const before = process.cpuUsage()
      await sleep(5000)
      const used = process.cpuUsage(before)
      shares.push(((used.user + used.system) / 5_000_000) * 100)
      await offload.close()
      await store.close()
    }
    const median = [...shares].sort((a, b) => a - b)[Math.floor(shares.length / 2)]!
    console.log(`changePollMs ${changePollMs}: idle worker uses ${median.toFixed(2)}% of a core (median; rounds ${shares.map((share) => share.toFixed(2)).join(', ')})`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
