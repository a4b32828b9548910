/**
 * Sequential awaited enqueues on a fresh file, nothing else: small enough to run under
 * `strace -f -c` and count the syscalls one durable enqueue costs.
 *   N=2000 node --import tsx bench/experiments/seq-probe.ts
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createOffload } from '../../src/index.js'
const dir = mkdtempSync(join(tmpdir(), 'seq-probe-'))
const offload = createOffload({ store: `sqlite:${join(dir, 'a.db')}`, logger: false })
const task = offload.task<{ i: number }, void>('bench.noop', { queue: 'bench', run: () => {} })
await offload.migrate()
for (let i = 0; i < 200; i++) await task.enqueue({ i })
const n = Number(process.env.N ?? 2000)
const t = performance.now()
for (let i = 0; i < n; i++) await task.enqueue({ i })
const ms = performance.now() - t
console.log(`${n} sequential enqueues: ${(ms * 1000 / n).toFixed(0)} µs each, ${Math.round(n / ms * 1000)} jobs/s`)
await offload.close()
rmSync(dir, { recursive: true, force: true })
