import { performance } from 'node:perf_hooks'
import { sleep, wallNow, withTimeout } from './clock.js'
import { WorkerChild } from './children.js'
import { CpuMeter, type CpuSplit } from './cpu.js'
import { summarise, type LatencySummary } from './stats.js'
import type { ScenarioContext } from '../systems/system.js'
import type { WorkerConfig } from '../workers/protocol.js'

/*
 * Building blocks for the scripts in bench/experiments/, which measure one part of Offload at a
 * time; `npm run bench` itself runs the scenarios in steps.ts.
 */

export interface LatencyPlan {
  samples: number
  warmup: number
  /** Idle time after each job so the worker is waiting when the next arrives. */
  pauseMs: number
  /** A random extra pause, uniform in [0, jitterMs], so arrivals do not lock onto a timer's phase. */
  jitterMs: number
  timeLimitMs: number
}

export interface LatencyResult {
  variant: string
  summary: LatencySummary
  /** Samples in ms, in the order measured (warm-up excluded). */
  samples: number[]
  partial: boolean
}

export interface DrainResult {
  variant: string
  jobs: number
  ms: number
  rate: number
  partial: boolean
  notes: string[]
  /** Worker start → first handler, and → last handler, in ms. */
  firstHandlerMs: number
  lastHandlerMs: number
  /** Spawn → worker process ready (connected, untimed). */
  bootMs: number
  /** CPU by process class over start → the store showing every job completed. */
  cpu?: CpuSplit
  /** This worker process's own CPU ms over the same span. */
  workerCpuMs: number
  profile?: string
}

/** The longest one latency sample may take before the scenario gives up on it. */
const SAMPLE_TIMEOUT_MS = 10_000

/**
 * Handlers in this process call `started(seq)` first thing; the latency loop waits on `next(seq)`.
 * The time is taken in the handler, before anything else runs.
 */
export class StartSignals {
  private readonly waiting = new Map<number, (at: number) => void>()

  readonly started = (seq: number): void => {
    const at = performance.now()
    const resolve = this.waiting.get(seq)
    this.waiting.delete(seq)
    resolve?.(at)
  }

  next(seq: number): Promise<number> {
    return new Promise((resolve) => this.waiting.set(seq, resolve))
  }
}

/**
 * Enqueue → handler start within one process: one job at a time, each after the worker went idle.
 * The clock starts just before the enqueue call and stops at the top of the handler.
 */
export async function latencyInProcess(
  variant: string,
  plan: LatencyPlan,
  signals: StartSignals,
  enqueue: (seq: number) => Promise<unknown>,
): Promise<LatencyResult> {
  const samples: number[] = []
  const deadline = performance.now() + plan.timeLimitMs
  for (let seq = 0; seq < plan.warmup + plan.samples && performance.now() < deadline; seq++) {
    const handlerStart = signals.next(seq)
    const sentAt = performance.now()
    const enqueued = enqueue(seq)
    const startedAt = await withTimeout(handlerStart, SAMPLE_TIMEOUT_MS, `job ${seq} to start`)
    await enqueued
    if (seq >= plan.warmup) samples.push(startedAt - sentAt)
    await sleep(plan.pauseMs + Math.random() * plan.jitterMs)
  }
  return { variant, summary: summarise(samples), samples, partial: samples.length < plan.samples }
}

/**
 * Drain: the jobs are already queued; spawn one worker process, let it connect, then time from
 * its worker start until the store shows every job completed. A run cut short by `timeLimitMs`
 * reports the jobs its handlers ran by then.
 */
export async function drainInChild(
  ctx: ScenarioContext,
  variant: string,
  script: string,
  config: WorkerConfig,
  timeLimitMs: number,
  profileName?: string,
): Promise<DrainResult> {
  const cpuProfile = ctx.profileDir !== undefined && profileName !== undefined ? { dir: ctx.profileDir, name: profileName } : undefined
  const spawnedAt = wallNow()
  const child = new WorkerChild(script, config, cpuProfile === undefined ? {} : { cpuProfile })
  try {
    const ready = await child.next('ready', 60_000)
    const done = child.next('done', timeLimitMs + 30_000)
    const meter = new CpuMeter()
    let cpu: CpuSplit | undefined
    const unobserve = child.observe((message) => {
      if (message.type === 'completed' || (message.type === 'done' && cpu === undefined)) cpu = meter.stop()
    })
    child.send({ type: 'start' })
    let cut = false
    const limit = setTimeout(() => {
      cut = true
      child.send({ type: 'stop' })
    }, timeLimitMs)
    const { report } = await done.finally(() => {
      clearTimeout(limit)
      unobserve()
    })
    await child.stop()
    const profile = child.collectProfile()
    const end = report.completedAt ?? report.lastHandlerAt
    const jobs = report.completedAt === undefined ? report.handled : report.completed
    const ms = end - report.startedAt
    const limitText = `time limit ${Math.round(timeLimitMs / 1000)} s`
    const notes = !cut
      ? []
      : report.handled < config.jobs
        ? [`${limitText}: ${report.handled} of ${config.jobs} handlers ran; the figure is handlers run by the last one`]
        : [
            `${limitText}: every handler ran (the last at ${Math.round(report.lastHandlerAt - report.startedAt)} ms), but the store did not show all ` +
              `${config.jobs} jobs completed within the limit; the figure is handlers run, not jobs completed`,
          ]
    const result: DrainResult = {
      variant,
      jobs,
      ms,
      rate: (jobs / ms) * 1000,
      partial: report.partial,
      firstHandlerMs: report.firstHandlerAt - report.startedAt,
      lastHandlerMs: report.lastHandlerAt - report.startedAt,
      bootMs: ready.at - spawnedAt,
      notes,
      workerCpuMs: report.cpuMs,
    }
    if (cpu !== undefined) result.cpu = cpu
    if (profile !== undefined) result.profile = profile
    return result
  } finally {
    child.kill()
  }
}
