/**
 * Where the cross-process wake-up time goes, for Offload's SQLite store: a producer here enqueues
 * one job at a time; a worker process (experiments/wakeup-worker.ts) runs Offload on a store
 * wrapped to timestamp what the runtime does — the store note that wakes it, the claim call, the
 * claim's return, the handler. Prints p50, p90, p95 and p99 of each step.
 *
 *   npx tsx bench/experiments/wakeup-path.ts [--samples 500] [--poll-ms 2]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOffload } from '../../src/index.js'
import { WorkerChild } from '../lib/children.js'
import { sleep, wallNow } from '../lib/clock.js'
import { percentile } from '../lib/stats.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from '../workers/names.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : Number(args[at + 1])
}
const SAMPLES = option('--samples', 500)
const POLL_MS = option('--poll-ms', 2)

const dir = mkdtempSync(join(tmpdir(), 'offload-wakeup-path-'))
const file = join(dir, 'wakeup.db')
const offload = createOffload({ store: `sqlite:${file}`, logger: false })
const task = offload.task<BenchPayload, void>(OFFLOAD_TASK, { queue: OFFLOAD_QUEUE, run: () => {} })
await offload.migrate()
const child = new WorkerChild('bench/experiments/wakeup-worker.ts', { mode: 'wakeup', jobs: 0, concurrency: 50, options: { file, pollMs: POLL_MS } })
const steps: Record<string, number[]> = {}
const add = (name: string, value: number): void => void (steps[name] ??= []).push(value)
try {
  await child.next('ready', 60_000)
  child.send({ type: 'start' })
  await sleep(200)
  for (let seq = 0; seq < SAMPLES + 20; seq++) {
    const started = child.next('started', 10_000, (message) => message.seq === seq)
    const sentAt = wallNow()
    await task.enqueue({ seq, sentAt })
    const committedAt = wallNow()
    const { at, detail } = await started
    if (seq >= 20 && detail !== undefined) {
      add('1 enqueue call → commit resolved (producer)', committedAt - sentAt)
      // Negative when the worker hears the commit before the producer's await resumes.
      add('2 commit resolved → worker sees the change (watch / poll)', detail.noteAt! - committedAt)
      add('3 change seen → jobClaim called', detail.claimCallAt! - detail.noteAt!)
      add('4 jobClaim (read check + write + commit)', detail.claimDoneAt! - detail.claimCallAt!)
      add('5 jobClaim resolved → handler runs', at - detail.claimDoneAt!)
      add('  total: enqueue call → handler', at - sentAt)
    }
    await sleep(3 + Math.random() * 4)
  }
  await child.stop()
  console.log(`Offload wake-up across processes, ${SAMPLES} jobs, change poll every ${POLL_MS} ms (ms):`)
  console.log(`  ${'step'.padEnd(66)} ${['p50', 'p90', 'p95', 'p99'].map((p) => p.padStart(7)).join(' ')}`)
  for (const [name, values] of Object.entries(steps)) {
    values.sort((a, b) => a - b)
    const cell = (p: number): string => percentile(values, p).toFixed(3).padStart(7)
    console.log(`  ${name.padEnd(66)} ${[50, 90, 95, 99].map(cell).join(' ')}`)
  }
} finally {
  child.kill()
  await offload.close()
  rmSync(dir, { recursive: true, force: true })
}
