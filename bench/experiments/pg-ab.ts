/**
 * Two versions of Offload on PostgreSQL, interleaved in one run: the bench's bulk scenario
 * (`enqueueMany` in calls of 1,000) and its drain (20,000 queued no-op jobs, one worker process),
 * each measurement in a fresh process (pg-ab-child.ts) on a fresh schema. The machine and the
 * server are shared; alternating A and B inside every round, and which goes first, keeps the
 * comparison fair where two separate runs would not. Stands apart from bench/lib and
 * bench/systems, so it runs while those change.
 *
 *   mkdir -p /root/pgstore-ab/base && git archive <commit> src | tar -x -C /root/pgstore-ab/base \
 *     && ln -s "$PWD/node_modules" /root/pgstore-ab/base/
 *   npx tsx bench/experiments/pg-ab.ts --a /root/pgstore-ab/base --b . [--rounds 3]
 *     [--only bulk,drain] [--concurrency 50,10] [--bulk-jobs 100000] [--drain-jobs 20000]
 *
 * Schemas `bench_offload_ab_a` and `bench_offload_ab_b`, dropped at the end. Prints each round's
 * figures, then per measure the median, min–max and B/A; also the child's own CPU time and, for
 * drains, the PostgreSQL server's (all of its processes: run on a machine no one else's queries load).
 */
import { execFile } from 'node:child_process'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const execChild = promisify(execFile)
const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const VERSIONS = { A: resolve(option('--a', '/root/pgstore-ab/base')), B: resolve(option('--b', '.')) }
const ROUNDS = Number(option('--rounds', '3'))
const ONLY = option('--only', 'bulk,drain').split(',')
const CONCURRENCY = option('--concurrency', '50,10').split(',').map(Number)
const BULK_JOBS = Number(option('--bulk-jobs', '100000'))
const DRAIN_JOBS = Number(option('--drain-jobs', '20000'))
const URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const schemaOf = (version: keyof typeof VERSIONS): string => `bench_offload_ab_${version.toLowerCase()}`

interface Measured {
  rate: number
  cpuMs: number
  /** Drains: CPU of every postgres process over the span. */
  serverMs?: number
}

async function measure(version: keyof typeof VERSIONS, config: Record<string, unknown>): Promise<Measured> {
  const child = { src: VERSIONS[version], url: URL, schema: schemaOf(version), ...config }
  // Bounded: a version that hangs fails the run rather than holding the machine.
  const { stdout } = await execChild(process.execPath, ['--import', 'tsx', 'bench/experiments/pg-ab-child.ts', JSON.stringify(child)], {
    timeout: 180_000,
  })
  return JSON.parse(stdout.trim().split('\n').pop()!) as Measured
}

/** Each measure's figures, one per round, in the order they came. */
const results = new Map<string, number[]>()
function record(name: string, value: number): void {
  const figures = results.get(name)
  if (figures === undefined) results.set(name, [value])
  else figures.push(value)
}
/** The middle figure (the upper middle of an even count: rounds are few, and this keeps a real run's figure). */
const median = (values: readonly number[]): number => [...values].sort((x, y) => x - y)[values.length >> 1]!

console.log(`A = ${VERSIONS.A}\nB = ${VERSIONS.B}\nload before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order: (keyof typeof VERSIONS)[] = round % 2 === 0 ? ['A', 'B'] : ['B', 'A']
    const line: string[] = []
    for (const version of order) {
      if (ONLY.includes('bulk')) {
        const { rate, cpuMs } = await measure(version, { mode: 'bulk', jobs: BULK_JOBS, chunk: 1_000 })
        record(`bulk x1000 jobs/s ${version}`, rate)
        record(`bulk x1000 client CPU ms ${version}`, cpuMs)
        line.push(`bulk ${version} ${rate.toFixed(0)}`)
      }
      if (ONLY.includes('drain')) {
        for (const concurrency of CONCURRENCY) {
          await measure(version, { mode: 'fill', jobs: DRAIN_JOBS })
          const { rate, cpuMs, serverMs } = await measure(version, { mode: 'drain', jobs: DRAIN_JOBS, concurrency })
          record(`drain c=${concurrency} jobs/s ${version}`, rate)
          record(`drain c=${concurrency} worker CPU ms ${version}`, cpuMs)
          record(`drain c=${concurrency} server CPU ms ${version}`, serverMs ?? 0)
          line.push(`drain c=${concurrency} ${version} ${rate.toFixed(0)}`)
        }
      }
    }
    console.log(`round ${round + 1}: ${line.join(' · ')} · load ${loadavg()[0]!.toFixed(2)}`)
  }
  console.log(`\nmedians of ${ROUNDS} rounds [min–max]; load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (const name of [...results.keys()].sort()) {
    const values = results.get(name)!
    const ratio = name.endsWith(' B') ? `  B/A ${(median(values) / median(results.get(name.replace(/ B$/, ' A'))!)).toFixed(2)}` : ''
    console.log(`  ${name.padEnd(34)} ${median(values).toFixed(0).padStart(8)}  [${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}]${ratio}`)
  }
} finally {
  const client = new pg.Client({ connectionString: URL })
  await client.connect()
  for (const version of ['A', 'B'] as const) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schemaOf(version))} CASCADE`)
  await client.end()
}
