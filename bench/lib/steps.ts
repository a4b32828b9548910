import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { ServerChild, WorkerChild } from './children.js'
import { monotonicMicros, sleep, wallNow, withTimeout } from './clock.js'
import { CpuMeter } from './cpu.js'
import { summarise } from './stats.js'
import type { BenchSystem, HttpApi, Measurement, ScenarioContext, Space, WorkerShape } from '../systems/system.js'
import type { BenchPayload } from '../workers/names.js'
import { HTTP_ACCEPTED, type HttpLoadOptions, type HttpLoadReport, type LoadReport, type WorkerConfig } from '../workers/protocol.js'

export const SCENARIOS = ['sequential', 'bulk', 'drain', 'latency', 'scaling', 'mixed', 'payload', 'http'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

/** Every system runs every scenario but `http`, which needs an HTTP API of the system's own. */
export function appliesTo(scenario: ScenarioName, system: BenchSystem): boolean {
  return scenario !== 'http' || system.http !== undefined
}

export interface PayloadVariant {
  bytes: number
  jobs: number
  /** Jobs per bulk call. */
  chunk: number
}

/** Counts, sizes and limits of one run; `--quick` shrinks them all. */
export interface Plan {
  rounds: number
  /** Jobs per throughput step. */
  jobs: number
  /** Jobs per bulk call. */
  chunk: number
  /** Drain: one worker process at each of these concurrencies. */
  concurrencies: number[]
  /** Concurrency of each worker process in the scaling, mixed, latency and payload steps. */
  concurrency: number
  /** Scaling: worker processes sharing one queue. */
  processes: number[]
  latency: { jobs: number; spacingMs: number; warmup: number }
  mixed: { seconds: number; producers: number; loopsPerProducer: number; workers: number }
  payloads: PayloadVariant[]
  /**
   * HTTP enqueue: `connections` keep-alive connections; a warm-up of `warmupRequests`, then as many
   * requests as the rate of the warm-up's second half makes in `seconds`.
   */
  http: { connections: number; warmupRequests: number; seconds: number }
  /** A timed stretch that takes longer is cut and reported as such. */
  timeLimitMs: number
  /** Before each step: wait until the machine is this idle (share of all cores busy) … */
  quietBelow: number
  /** … but no longer than this. */
  quietWaitMs: number
}

export function planFor(quick: boolean, rounds: number | undefined): Plan {
  const full: Plan = {
    rounds: rounds ?? 3,
    jobs: 20_000,
    chunk: 1_000,
    concurrencies: [10, 50],
    concurrency: 50,
    processes: [1, 2, 4],
    latency: { jobs: 500, spacingMs: 10, warmup: 20 },
    mixed: { seconds: 30, producers: 2, loopsPerProducer: 4, workers: 2 },
    payloads: [
      { bytes: 1024, jobs: 20_000, chunk: 1_000 },
      { bytes: 65536, jobs: 2_000, chunk: 100 },
    ],
    http: { connections: 50, warmupRequests: 10_000, seconds: 10 },
    timeLimitMs: 20_000,
    quietBelow: 0.25,
    quietWaitMs: 20_000,
  }
  if (!quick) return full
  // Every scenario and variant, at counts that only prove the harness still works.
  return {
    ...full,
    rounds: rounds ?? 1,
    jobs: 1_000,
    latency: { jobs: 40, spacingMs: 10, warmup: 5 },
    mixed: { ...full.mixed, seconds: 2, producers: 1 },
    payloads: [
      { bytes: 1024, jobs: 500, chunk: 100 },
      { bytes: 65536, jobs: 100, chunk: 50 },
    ],
    http: { ...full.http, warmupRequests: 2_000, seconds: 1.5 },
    timeLimitMs: 10_000,
    quietWaitMs: 1_000,
  }
}

/** Runs `scenario` for `system`: a fresh queue per measured stretch, removed after, also on failure. */
export async function runStep(scenario: ScenarioName, system: BenchSystem, ctx: ScenarioContext, plan: Plan): Promise<Measurement[]> {
  switch (scenario) {
    case 'sequential':
      return [await using(system, ctx, 'sequential', (space) => sequential(space, plan))]
    case 'bulk':
      return [await using(system, ctx, 'bulk', (space) => bulk(space, plan.jobs, plan.chunk, plan.timeLimitMs, numbered, `calls of ${plan.chunk.toLocaleString('en-US')}`))]
    case 'drain': {
      const rows: Measurement[] = []
      for (const concurrency of plan.concurrencies) {
        for (const shape of system.shapes) {
          const profile = profileFor(ctx, system, `drain-c${concurrency}`)
          const options = { jobs: plan.jobs, concurrency, processes: 1, shape, timeLimitMs: plan.timeLimitMs, profile }
          rows.push(await filledDrain(system, ctx, 'drain', plan, options, `c=${concurrency}${shape.suffix}`))
        }
      }
      return rows
    }
    case 'latency':
      return [await using(system, ctx, 'latency', (space) => latency(system, space, plan))]
    case 'scaling': {
      const rows: Measurement[] = []
      for (const processes of plan.processes) {
        const options = { jobs: plan.jobs, concurrency: plan.concurrency, processes, shape: system.shapes[0]!, timeLimitMs: plan.timeLimitMs }
        rows.push(await filledDrain(system, ctx, 'scaling', plan, options, `${processes} process${processes === 1 ? '' : 'es'} × c=${plan.concurrency}`))
      }
      return rows
    }
    case 'mixed':
      return [await using(system, ctx, 'mixed', (space) => mixed(system, space, plan))]
    case 'payload': {
      const rows: Measurement[] = []
      for (const variant of plan.payloads) {
        const size = variant.bytes >= 1024 ? `${variant.bytes / 1024} KiB` : `${variant.bytes} B`
        const payload = padded(variant.bytes)
        await using(system, ctx, 'payload', async (space) => {
          const enqueued = await bulk(space, variant.jobs, variant.chunk, plan.timeLimitMs, payload, `enqueue ${size} (calls of ${variant.chunk})`)
          rows.push(enqueued)
          const shape = system.shapes[0]!
          rows.push(await drain(system, space, { jobs: enqueued.jobs!, concurrency: plan.concurrency, processes: 1, shape, timeLimitMs: plan.timeLimitMs }, `drain ${size}`))
        })
      }
      return rows
    }
    case 'http': {
      const api = system.http
      if (api === undefined) throw new Error(`${system.title} has no HTTP API`)
      return [await using(system, ctx, 'http', (space) => http(api, space, plan, profileFor(ctx, system, 'http')))]
    }
  }
}

async function using<T>(system: BenchSystem, ctx: ScenarioContext, step: string, fn: (space: Space) => Promise<T>): Promise<T> {
  const space = await system.fresh(ctx, step)
  try {
    return await fn(space)
  } finally {
    await space.remove()
  }
}

/** A fresh queue filled with `options.jobs` numbered jobs (untimed), then drained. */
function filledDrain(system: BenchSystem, ctx: ScenarioContext, step: string, plan: Plan, options: DrainOptions, variant: string): Promise<Measurement> {
  return using(system, ctx, step, async (space) => {
    await fill(space, options.jobs, plan.chunk, numbered, options.shape.groups)
    return drain(system, space, options, variant)
  })
}

type PayloadOf = (i: number) => BenchPayload

const numbered: PayloadOf = (i) => ({ i })

/** Payloads of about `bytes` of JSON: incompressible text, so no store gets it cheaper by compressing. */
function padded(bytes: number): PayloadOf {
  const pad = randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, Math.max(0, bytes - 24))
  return (i) => ({ i, pad })
}

/** Queues `jobs` jobs through the bulk API, untimed. */
async function fill(space: Space, jobs: number, chunk: number, payload: PayloadOf, groups?: number): Promise<void> {
  for (let first = 0; first < jobs; first += chunk) {
    await space.enqueueMany(Array.from({ length: Math.min(chunk, jobs - first) }, (_, k) => payload(first + k)), groups)
  }
}

function rateRow(variant: string, jobs: number, target: number, ms: number, cpu: Measurement['cpu']): Measurement {
  const row: Measurement = { variant, rate: (jobs / ms) * 1000, jobs, ms, partial: jobs < target }
  if (cpu !== undefined) row.cpu = cpu
  if (row.partial) row.notes = [`time limit: ${jobs.toLocaleString('en-US')} of ${target.toLocaleString('en-US')} jobs done; the rate is over what was done`]
  return row
}

/** One producer awaiting each enqueue in turn. */
async function sequential(space: Space, plan: Plan): Promise<Measurement> {
  const meter = new CpuMeter()
  const started = performance.now()
  let done = 0
  while (done < plan.jobs && performance.now() - started < plan.timeLimitMs) {
    await space.enqueue({ i: done })
    done++
  }
  const ms = performance.now() - started
  return rateRow('await enqueue, one at a time', done, plan.jobs, ms, meter.stop())
}

/** Calls of the bulk API of `chunk` jobs each, one awaited after another. */
async function bulk(space: Space, jobs: number, chunk: number, timeLimitMs: number, payload: PayloadOf, variant: string): Promise<Measurement> {
  // Built before the clock starts: the figure is the system's, not the payloads' construction.
  const calls: BenchPayload[][] = []
  for (let first = 0; first < jobs; first += chunk) calls.push(Array.from({ length: Math.min(chunk, jobs - first) }, (_, k) => payload(first + k)))
  const meter = new CpuMeter()
  const started = performance.now()
  let done = 0
  for (const call of calls) {
    if (performance.now() - started >= timeLimitMs) break
    await space.enqueueMany(call)
    done += call.length
  }
  const ms = performance.now() - started
  return rateRow(variant, done, jobs, ms, meter.stop())
}

/**
 * Spawns `count` processes of `system` and waits until each has connected (untimed). With
 * `profile`, the first runs under `node --cpu-prof`.
 */
async function spawn(system: BenchSystem, count: number, config: WorkerConfig, profile?: { dir: string; name: string }): Promise<WorkerChild[]> {
  const children = Array.from({ length: count }, (_, i) => new WorkerChild(system.workerScript, config, i === 0 && profile !== undefined ? { cpuProfile: profile } : {}))
  try {
    await Promise.all(children.map((child) => child.next('ready', 60_000)))
    return children
  } catch (error) {
    for (const child of children) child.kill()
    throw error
  }
}

interface DrainOptions {
  jobs: number
  concurrency: number
  processes: number
  shape: WorkerShape
  timeLimitMs: number
  /** With `--profile`: where the first worker's CPU profile goes. */
  profile?: { dir: string; name: string }
}

/**
 * The jobs are already queued: start `processes` worker processes at once and time from their
 * start until the store shows every job completed — jobs durably finished, not merely handed to
 * a handler. The processes report how many handlers they ran; once those add up, one of them
 * polls its store until the count is there (a single process does so on its own).
 */
async function drain(system: BenchSystem, space: Space, options: DrainOptions, variant: string): Promise<Measurement> {
  const config: WorkerConfig = { mode: 'drain', jobs: options.jobs, concurrency: options.concurrency, options: { ...space.options, ...options.shape.options } }
  const children = await spawn(system, options.processes, config, options.profile)
  let row: Measurement | undefined
  try {
    const handled = new Array<number>(children.length).fill(0)
    let confirmAsked = false
    let cpu: Measurement['cpu']
    const meter = new CpuMeter()
    const finished = new Promise<number>((resolve, reject) => {
      children.forEach((child, index) => {
        child.observe((message) => {
          if (message.type === 'handled') {
            handled[index] = message.count
            if (!confirmAsked && children.length > 1 && handled.reduce((sum, count) => sum + count, 0) >= options.jobs) {
              confirmAsked = true
              children[0]!.send({ type: 'confirm', jobs: options.jobs })
            }
          } else if (message.type === 'completed') {
            cpu ??= meter.stop()
          } else if (message.type === 'done' && !message.report.partial) {
            resolve(message.report.completedAt!)
          }
        })
        // A child that dies rejects its waiters; this one stands for the whole drain.
        child.next('stopped', options.timeLimitMs + 60_000).then(() => reject(new Error('a worker process stopped during the drain')), reject)
      })
    })
    const startedAt = wallNow()
    for (const child of children) child.send({ type: 'start' })
    let timer: NodeJS.Timeout | undefined
    const cut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), options.timeLimitMs)
    })
    const completedAt = await Promise.race([finished, cut]).finally(() => clearTimeout(timer))
    if (completedAt === undefined) {
      const done = handled.reduce((sum, count) => sum + count, 0)
      row = rateRow(variant, done, options.jobs, options.timeLimitMs, meter.stop())
      row.notes = [`time limit ${Math.round(options.timeLimitMs / 1000)} s: ${done.toLocaleString('en-US')} of ${options.jobs.toLocaleString('en-US')} handlers ran (not all confirmed completed); the rate is handlers run`]
      row.partial = true
    } else {
      row = rateRow(variant, options.jobs, options.jobs, completedAt - startedAt, cpu)
    }
    return row
  } finally {
    await Promise.all(children.map((child) => child.stop()))
    const profile = children[0]?.collectProfile()
    if (row !== undefined && profile !== undefined) row.profile = profile
  }
}

/** Under `--profile`, Offload's drain workers and HTTP server run under the profiler; the file name says which step. */
function profileFor(ctx: ScenarioContext, system: BenchSystem, name: string): { dir: string; name: string } | undefined {
  return ctx.profileDir !== undefined && system.name.startsWith('offload') ? { dir: ctx.profileDir, name: `${system.name}-${name}.cpuprofile` } : undefined
}

/**
 * Enqueue in the bench process → handler start in a worker process: `jobs` jobs sent
 * `spacingMs` apart whatever happened to the last (an open loop, as independent producers would),
 * each stamped with the producer's wall clock; the worker answers with its own at the top of the
 * handler. Both clocks are the machine's; their offset over IPC is measured and noted.
 */
async function latency(system: BenchSystem, space: Space, plan: Plan): Promise<Measurement> {
  const { jobs, spacingMs, warmup } = plan.latency
  const [child] = await spawn(system, 1, { mode: 'wakeup', jobs: 0, concurrency: plan.concurrency, options: { ...space.options, ...system.shapes[0]!.options } })
  try {
    const clock = await child!.clockOffset()
    const starts = new Map<number, number>()
    let all: () => void = () => {}
    const arrived = new Promise<void>((resolve) => (all = resolve))
    child!.observe((message) => {
      if (message.type !== 'started') return
      starts.set(message.seq, message.at - message.sentAt)
      if (starts.size === warmup + jobs) all()
    })
    child!.send({ type: 'start' })
    // Let the worker reach its idle wait before the first job.
    await sleep(250)
    const meter = new CpuMeter()
    const began = performance.now()
    const sends: Promise<unknown>[] = []
    for (let seq = 0; seq < warmup + jobs; seq++) {
      const due = began + seq * spacingMs
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      sends.push(space.enqueue({ seq, sentAt: wallNow() }))
    }
    await Promise.all(sends)
    await withTimeout(arrived, 10_000, `all ${warmup + jobs} jobs to start`).catch(() => {})
    const cpu = meter.stop()
    const samples = [...starts].filter(([seq]) => seq >= warmup).map(([, ms]) => ms)
    const row: Measurement = { variant: `${jobs} jobs ${spacingMs} ms apart`, latency: summarise(samples), partial: samples.length < jobs }
    if (cpu !== undefined) row.cpu = cpu
    row.notes = [`clocks of the two processes differ by ${clock.offsetMs.toFixed(3)} ± ${clock.uncertaintyMs.toFixed(3)} ms (not corrected)`]
    if (row.partial) row.notes.push(`${jobs - samples.length} of ${jobs} jobs had not started 10 s after the last was sent`)
    return row
  } finally {
    await child!.stop()
  }
}

/**
 * Producers and workers at once for `seconds`: producer processes each run `loopsPerProducer`
 * loops of awaited single enqueues (as request handlers would), worker processes run the jobs.
 * Reports jobs run per second, enqueues acknowledged per second, and enqueue → handler start
 * under that load.
 */
async function mixed(system: BenchSystem, space: Space, plan: Plan): Promise<Measurement> {
  const { seconds, producers, loopsPerProducer, workers } = plan.mixed
  const options = { ...space.options, ...system.shapes[0]!.options }
  const workerProcesses = await spawn(system, workers, { mode: 'mixed', jobs: 0, concurrency: plan.concurrency, options })
  let producerProcesses: WorkerChild[] = []
  try {
    producerProcesses = await spawn(system, producers, { mode: 'produce', jobs: 0, concurrency: loopsPerProducer, options })
    const all = [...workerProcesses, ...producerProcesses]
    const reports = all.map((child) => child.next('load', seconds * 1000 + 60_000))
    const meter = new CpuMeter()
    const started = performance.now()
    for (const child of all) child.send({ type: 'start' })
    await sleep(seconds * 1000)
    const cpu = meter.stop()
    const ms = performance.now() - started
    for (const child of all) child.send({ type: 'stop' })
    const loads: LoadReport[] = (await Promise.all(reports)).map((message) => message.report)
    const ran = loads.slice(0, workers).reduce((sum, load) => sum + load.count, 0)
    const enqueued = loads.slice(workers).reduce((sum, load) => sum + load.count, 0)
    const row: Measurement = {
      variant: `${producers} producer process${producers === 1 ? '' : 'es'} × ${loopsPerProducer} loops, ${workers} workers × c=${plan.concurrency}, ${seconds} s`,
      rate: (ran / ms) * 1000,
      jobs: ran,
      ms,
      latency: summarise(loads.slice(0, workers).flatMap((load) => load.latencies)),
      partial: false,
      notes: [`enqueued ${Math.round((enqueued / ms) * 1000).toLocaleString('en-US')} jobs/s; ${Math.max(0, enqueued - ran).toLocaleString('en-US')} waiting or running when stopped`],
    }
    if (cpu !== undefined) row.cpu = cpu
    return row
  } finally {
    await Promise.all([...workerProcesses, ...producerProcesses].map((child) => child.stop()))
  }
}

/** The `http` step's load generator: autocannon in a process of its own, not a system's worker. */
const HTTP_LOAD_SCRIPT = 'bench/workers/http-load.ts'

/**
 * HTTP enqueue: the system's own server on the fresh queue in one process, autocannon in another
 * (`workers/http-load.ts`), the bench only watching. After a warm-up, the measured stretch: its
 * requests answered per second, their latencies, and the CPU of the server and of the load
 * generator over it. Any answer but 202, or a request without one, fails the step; afterwards the
 * store must hold exactly one job per 202, the warm-up's included.
 */
async function http(api: HttpApi, space: Space, plan: Plan, profile?: { dir: string; name: string }): Promise<Measurement> {
  const { connections, warmupRequests, seconds } = plan.http
  if (space.jobCount === undefined) throw new Error('the http step needs a space that can count its jobs')
  const { server, url } = await ServerChild.start(api.server(space), 60_000, profile !== undefined ? { cpuProfile: profile } : {})
  const endpoint = new URL(api.enqueue.path, url).toString()
  let load: WorkerChild | undefined
  let row: Measurement | undefined
  // Under --profile: the measured stretch on the monotonic clock, which the server's profile uses too.
  const window = { fromUs: 0, toUs: 0 }
  try {
    const options: HttpLoadOptions = { url: endpoint, body: api.enqueue.body, warmupRequests, seconds, timeLimitMs: plan.timeLimitMs }
    load = new WorkerChild(HTTP_LOAD_SCRIPT, { mode: 'http-load', jobs: 0, concurrency: connections, options })
    await load.next('ready', 60_000)
    const named = { server: server.pid, 'load generator': load.process.pid! }
    let meter: CpuMeter | undefined
    let cpu: Measurement['cpu']
    load.observe((message) => {
      if (message.type !== 'http-phase') return
      if (message.phase === 'measuring') {
        window.fromUs = monotonicMicros()
        meter = new CpuMeter()
      } else {
        cpu ??= meter?.stop(named)
        window.toUs = monotonicMicros()
      }
    })
    const finished = load.next('http-load', 2 * plan.timeLimitMs + 60_000)
    load.send({ type: 'start' })
    const { warmup, measured } = await finished
    cpu ??= meter?.stop(named)
    if (!server.running) throw new Error(server.failure())
    const failed = httpFailure('warm-up', warmup) ?? (warmup.cut ? `the warm-up's ${warmup.requests.toLocaleString('en-US')} requests took longer than ${plan.timeLimitMs / 1000} s` : undefined) ?? httpFailure('measured stretch', measured)
    if (failed !== undefined) throw new Error(`${failed}${await oneMoreAnswer(endpoint, api.enqueue.body)}`)

    const answered = (report: HttpLoadReport): number => report.statuses[HTTP_ACCEPTED] ?? 0
    const accepted = answered(warmup) + answered(measured)
    const stored = await space.jobCount()
    // Cut by the time limit, up to one request per connection was in flight: its job may be stored.
    if (measured.cut ? stored < accepted || stored > accepted + connections : stored !== accepted) {
      throw new Error(`the store holds ${stored.toLocaleString('en-US')} jobs, but ${accepted.toLocaleString('en-US')} requests were answered ${HTTP_ACCEPTED}`)
    }
    const perSecond = (report: HttpLoadReport): number => (answered(report) / report.ms) * 1000
    row = {
      variant: `${connections} connections`,
      rate: perSecond(measured),
      jobs: answered(measured),
      ms: measured.ms,
      latency: measured.latency,
      partial: measured.cut,
      notes: [
        `${answered(measured).toLocaleString('en-US')} requests after a warm-up of ${warmup.requests.toLocaleString('en-US')} (${Math.round(perSecond(warmup)).toLocaleString('en-US')} req/s, its second half ${Math.round(warmup.lateRate).toLocaleString('en-US')}), every one answered ${HTTP_ACCEPTED}: 0 other statuses, 0 errors`,
        measured.cut
          ? `time limit ${plan.timeLimitMs / 1000} s: ${answered(measured).toLocaleString('en-US')} of ${measured.requests.toLocaleString('en-US')} requests answered; the store holds ${stored.toLocaleString('en-US')} jobs for ${accepted.toLocaleString('en-US')} answers`
          : `the store holds ${stored.toLocaleString('en-US')} jobs: one per ${HTTP_ACCEPTED}`,
        `latency max ${measured.latency.max.toFixed(1)} ms`,
      ],
    }
    if (cpu !== undefined) row.cpu = cpu
    return row
  } finally {
    await load?.stop()
    await server.stop()
    if (profile !== undefined) {
      writeFileSync(join(profile.dir, profile.name.replace(/\.cpuprofile$/, '') + '.window.json'), JSON.stringify({ ...window, toUs: window.toUs || monotonicMicros() }))
      const path = server.collectProfile()
      if (row !== undefined && path !== undefined) row.profile = path
    }
  }
}

/** What went wrong in one stretch of the load generator, if anything did. */
function httpFailure(stage: string, report: HttpLoadReport): string | undefined {
  const others = Object.entries(report.statuses).filter(([status]) => Number(status) !== HTTP_ACCEPTED)
  if (others.length === 0 && report.errors === 0) return undefined
  const parts = others.map(([status, count]) => `${count.toLocaleString('en-US')} answered ${status}`)
  if (report.errors > 0) parts.push(`${report.errors.toLocaleString('en-US')} without an answer (a connection error or timeout)`)
  return `${stage}: ${parts.join(', ')}, where every request must be answered ${HTTP_ACCEPTED}`
}

/**
 * After a failure, one request of our own, so that the error shows what the server answers (the
 * load generator counts statuses; keeping bodies would cost it on every response).
 */
async function oneMoreAnswer(endpoint: string, body: string): Promise<string> {
  try {
    const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) })
    const text = await response.text()
    return ` (one more request: ${response.status}${response.status === HTTP_ACCEPTED ? '' : ` ${text.slice(0, 300)}`})`
  } catch (error) {
    return ` (one more request: ${error instanceof Error ? error.message : String(error)})`
  }
}
