/**
 * Two versions of Offload on SQLite, interleaved in one run: the bench's bulk and drain scenarios,
 * each measurement in a fresh child process (sqlite-ab-child.ts) on a fresh file. The machine is
 * shared and noisy; alternating A and B within each round keeps the comparison fair where
 * separate runs would not.
 *
 *   git archive <commit> src | tar -x -C /tmp/offload-base && ln -s "$PWD/node_modules" /tmp/offload-base/
 *   npx tsx bench/experiments/sqlite-ab.ts --a /tmp/offload-base --b . [--rounds 5]
 *     [--only bulk,drain] [--concurrency 50,10] [--bulk-jobs 100000] [--drain-jobs 20000]
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const A = resolve(option('--a', '/tmp/offload-base'))
const B = resolve(option('--b', '.'))
const ROUNDS = Number(option('--rounds', '3'))
const ONLY = option('--only', 'bulk,drain').split(',')
const CONCURRENCY = option('--concurrency', '50,10').split(',').map(Number)
const BULK_JOBS = Number(option('--bulk-jobs', '100000'))
const DRAIN_JOBS = Number(option('--drain-jobs', '20000'))
const CHILD = 'bench/experiments/sqlite-ab-child.ts'
const dir = mkdtempSync(join(tmpdir(), 'offload-ab-'))
let files = 0

async function child(config: Record<string, unknown>): Promise<{ rate: number; cpuMs?: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(config)], { timeout: 150_000 })
  return JSON.parse(stdout.trim().split('\n').pop()!) as { rate: number; cpuMs?: number }
}

function removeDb(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
}

async function bulk(src: string): Promise<number> {
  const file = join(dir, `bulk-${++files}.db`)
  try {
    return (await child({ src, mode: 'bulk', file, jobs: BULK_JOBS, chunk: 1_000 })).rate
  } finally {
    removeDb(file)
  }
}

async function drain(src: string, concurrency: number): Promise<number> {
  const file = join(dir, `drain-${++files}.db`)
  try {
    await child({ src, mode: 'fill', file, jobs: DRAIN_JOBS })
    return (await child({ src, mode: 'drain', file, jobs: DRAIN_JOBS, concurrency })).rate
  } finally {
    removeDb(file)
  }
}

const results = new Map<string, number[]>()
const record = (name: string, value: number): void => void results.set(name, [...(results.get(name) ?? []), value])
const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

try {
  console.log(`A = ${A}\nB = ${B}\nload before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always runs on the warmer (or busier) moment.
    const order: [string, string][] = round % 2 === 0 ? [['A', A], ['B', B]] : [['B', B], ['A', A]]
    for (const [name, src] of order) {
      if (ONLY.includes('bulk')) record(`bulk enqueueMany x1000 jobs/s  ${name}`, await bulk(src))
      if (ONLY.includes('drain')) {
        for (const concurrency of CONCURRENCY) record(`drain c=${concurrency} jobs/s  ${name}`, await drain(src, concurrency))
      }
    }
    console.log(`round ${round + 1} done, load ${loadavg()[0]!.toFixed(2)}`)
  }
  for (const name of [...results.keys()].sort()) {
    const values = results.get(name)!
    console.log(`${median(values).toFixed(0).padStart(9)}  ${name}   [${values.map((v) => v.toFixed(0)).join(', ')}]`)
  }
  console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
