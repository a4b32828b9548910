/**
 * Where the in-process enqueue → handler time goes: Offload on a store wrapped to timestamp each
 * step — the enqueue's store call and its durable return, the note that wakes the worker, the
 * claim call and its return, the handler. One job at a time, worker idle between jobs.
 *
 *   npx tsx bench/experiments/latency-path.ts [--samples 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createOffload, SqliteStore, type Store, type StoreNote } from '../../src/index.js'
import { sleep } from '../lib/clock.js'
import { percentile } from '../lib/stats.js'
import { OFFLOAD_QUEUE, OFFLOAD_TASK, type BenchPayload } from '../workers/names.js'

const args = process.argv.slice(2)
const SAMPLES = args.includes('--samples') ? Number(args[args.indexOf('--samples') + 1]) : 1000
const dir = mkdtempSync(join(tmpdir(), 'offload-latency-path-'))
const inner = new SqliteStore({ path: join(dir, 'latency.db') })
const marks: Record<string, number> = {}
const mark = (name: string): void => {
  marks[name] ??= performance.now()
}
const store = new Proxy(inner, {
  get(target, property, receiver) {
    if (property === 'jobInsertMany') {
      return async (params: Parameters<Store['jobInsertMany']>[0]) => {
        mark('insertCall')
        const result = await target.jobInsertMany(params)
        mark('insertDone')
        return result
      }
    }
    if (property === 'listen') {
      return (listener: (note: StoreNote) => void) =>
        target.listen((note) => {
          if (note.kind === 'ready') mark('note')
          listener(note)
        })
    }
    if (property === 'jobClaim') {
      return async (params: Parameters<Store['jobClaim']>[0]) => {
        const calledAt = performance.now()
        const jobs = await target.jobClaim(params)
        if (jobs.length > 0) {
          marks.claimCall = calledAt
          mark('claimDone')
        }
        return jobs
      }
    }
    const value = Reflect.get(target, property, receiver) as unknown
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
  },
}) as Store

const offload = createOffload({ store, logger: false })
let started: (() => void) | undefined
const task = offload.task<BenchPayload, void>(OFFLOAD_TASK, {
  queue: OFFLOAD_QUEUE,
  run: () => {
    mark('handler')
    started?.()
  },
})
const steps: Record<string, number[]> = {}
const add = (name: string, value: number): void => void (steps[name] ??= []).push(value)
try {
  await offload.migrate()
  await offload.work({ concurrency: 50, handleSignals: false })
  await sleep(100)
  for (let seq = 0; seq < SAMPLES + 50; seq++) {
    for (const key of Object.keys(marks)) delete marks[key]
    const handler = new Promise<void>((resolve) => (started = resolve))
    const sentAt = performance.now()
    const enqueued = task.enqueue({ seq })
    await handler
    await enqueued
    if (seq >= 50) {
      add('1 enqueue call → store.jobInsertMany called (validate, serialise)', marks.insertCall! - sentAt)
      add('2 jobInsertMany: group commit turn + INSERTs + COMMIT (fsync)', marks.insertDone! - marks.insertCall!)
      add('3 commit → note delivered (ready) to the worker', marks.note! - marks.insertCall!)
      add('4 note → jobClaim called (requestClaim, setImmediate)', marks.claimCall! - marks.note!)
      add('5 jobClaim: read check + group commit turn + UPDATE + COMMIT (fsync)', marks.claimDone! - marks.claimCall!)
      add('6 jobClaim resolved → handler runs', marks.handler! - marks.claimDone!)
      add('  total: enqueue call → handler', marks.handler! - sentAt)
    }
    await sleep(3 + Math.random() * 4)
  }
  console.log(`Offload enqueue → handler in one process, ${SAMPLES} jobs (ms):`)
  console.log(`  ${'step'.padEnd(74)} ${'p50'.padStart(7)} ${'p90'.padStart(7)}`)
  for (const [name, values] of Object.entries(steps)) {
    values.sort((a, b) => a - b)
    console.log(`  ${name.padEnd(74)} ${percentile(values, 50).toFixed(3).padStart(7)} ${percentile(values, 90).toFixed(3).padStart(7)}`)
  }
} finally {
  await offload.close()
  await inner.close()
  rmSync(dir, { recursive: true, force: true })
}
