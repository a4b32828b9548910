import type { MachineInfo } from './machine.js'
import type { DrainResult, LatencyPlan, LatencyResult, RateResult, SystemName } from '../systems/system.js'

/** The issue's targets for Offload (issue 2, "Performance"). */
export const TARGETS = {
  bulk: { rate: 100_000, text: '≥ 100,000 jobs/s' },
  drain: { rate: 30_000, text: '≥ 30,000 jobs/s' },
  sequential: { rate: 5_000, text: '≥ 5,000 jobs/s' },
  latency: { p50: 1, text: 'p50 ≤ 1 ms' },
  // "Within a few milliseconds": read as p99 ≤ 5 ms, so the claim holds for nearly every job.
  wakeup: { p99: 5, text: 'p99 ≤ 5 ms ("within a few milliseconds")' },
} as const

export type RateScenario = 'bulk' | 'drain' | 'sequential'
export type LatencyScenario = 'latency' | 'wakeup'
export type ScenarioName = RateScenario | LatencyScenario
export const SCENARIOS: readonly ScenarioName[] = ['bulk', 'drain', 'sequential', 'latency', 'wakeup']

export type Rows<T> = Partial<Record<SystemName, T[]>>

export interface SystemMeta {
  title: string
  settings: Record<string, string>
  durableAcks: string
  versions: Record<string, string>
}

export interface Plan {
  bulkJobs: number
  drainJobs: number
  concurrency: number
  sequentialJobs: number
  latency: LatencyPlan
  wakeup: LatencyPlan
  timeLimitMs: number
}

export interface RunResults {
  version: 1
  startedAt: string
  finishedAt: string
  durationS: number
  command: string
  quick: boolean
  /** The commit measured, and whether src/ had uncommitted changes then. */
  source: { commit: string; srcChanged: boolean }
  plan: Plan
  machine: MachineInfo & { services: Record<string, string> }
  systems: Partial<Record<SystemName, SystemMeta>>
  scenarios: {
    bulk: Rows<RateResult>
    drain: Rows<DrainResult>
    sequential: Rows<RateResult>
    latency: Rows<LatencyResult>
    wakeup: Rows<LatencyResult>
  }
  errors: { scenario: ScenarioName; system: SystemName; message: string }[]
  /** Set by bench/median.ts: how many runs each figure is the median of. */
  medianOf?: number
}

const ORDER: readonly SystemName[] = ['offload', 'bullmq', 'pgboss', 'graphile']

const TITLES: Record<ScenarioName, string> = {
  bulk: 'Bulk enqueue: jobs in the system\'s bulk API, chunks awaited in turn',
  drain: 'Drain: queued jobs run by one worker process at concurrency 50 (worker start → store shows all completed)',
  sequential: 'Sequential awaited enqueue: one producer awaiting each enqueue',
  latency: 'Latency in one process: enqueue call → handler start, one job at a time, worker idle',
  wakeup: 'Wake-up across processes: enqueue in the bench process → handler start in a worker process',
}

export function formatRate(rate: number): string {
  return Number.isFinite(rate) ? Math.round(rate).toLocaleString('en-US') : '—'
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  if (ms >= 100) return `${Math.round(ms).toLocaleString('en-US')} ms`
  if (ms >= 10) return `${ms.toFixed(1)} ms`
  return `${ms.toFixed(3)} ms`
}

function ratio(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return '—'
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(2)}×`
}

function table(header: string[], rows: string[][], right: Set<number>): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((width) => '─'.repeat(width))), ...rows.map(line)].join('\n')
}

function best<T extends { rate: number }>(rows: T[] | undefined): T | undefined {
  return rows?.reduce<T | undefined>((top, row) => (top === undefined || row.rate > top.rate ? row : top), undefined)
}

function rateSection(results: RunResults, scenario: RateScenario): string {
  const rows = results.scenarios[scenario] as Rows<RateResult>
  const offloadBest = best(rows.offload)
  const target = TARGETS[scenario]
  const body: string[][] = []
  for (const system of ORDER) {
    for (const row of rows[system] ?? []) {
      const isOffload = system === 'offload'
      const verdict = isOffload
        ? row === offloadBest
          ? `${target.text}: ${row.rate >= target.rate ? 'PASS' : 'SHORT'}`
          : ''
        : offloadBest === undefined
          ? ''
          : ratio(offloadBest.rate / row.rate)
      body.push([
        results.systems[system]?.title ?? system,
        row.variant + (row.partial ? ' (cut by time limit)' : ''),
        row.jobs.toLocaleString('en-US'),
        formatMs(row.ms),
        formatRate(row.rate),
        verdict,
      ])
    }
  }
  const notes = ORDER.flatMap((system) => (rows[system] ?? []).flatMap((row) => (row.notes ?? []).map((note) => `  · ${system}: ${note}`)))
  return [
    `${TITLES[scenario]}`,
    table(['system', 'variant', 'jobs', 'time', 'jobs/s', 'Offload ÷ peer  (Offload: target)'], body, new Set([2, 3, 4])),
    ...notes,
  ].join('\n')
}

function latencySection(results: RunResults, scenario: LatencyScenario): string {
  const rows = results.scenarios[scenario]
  const offload = rows.offload?.[0]
  const body: string[][] = []
  for (const system of ORDER) {
    for (const row of rows[system] ?? []) {
      const s = row.summary
      let verdict = ''
      if (system === 'offload') {
        verdict =
          scenario === 'latency'
            ? `${TARGETS.latency.text}: ${s.p50 <= TARGETS.latency.p50 ? 'PASS' : 'SHORT'}`
            : `${TARGETS.wakeup.text}: ${s.p99 <= TARGETS.wakeup.p99 ? 'PASS' : 'SHORT'}`
      } else if (offload !== undefined) {
        verdict = `${ratio(s.p50 / offload.summary.p50)} / ${ratio(s.p99 / offload.summary.p99)}`
      }
      body.push([
        results.systems[system]?.title ?? system,
        row.variant + (row.partial ? ' (cut by time limit)' : ''),
        s.n.toLocaleString('en-US'),
        formatMs(s.p50),
        formatMs(s.p90),
        formatMs(s.p99),
        formatMs(s.max),
        verdict,
      ])
    }
  }
  const notes = ORDER.flatMap((system) =>
    (rows[system] ?? []).flatMap((row) => [
      ...(row.notes ?? []).map((note) => `  · ${system}: ${note}`),
      ...(row.clock !== undefined
        ? [`  · ${system}: clocks of the two processes differ by ${row.clock.offsetMs.toFixed(3)} ms ± ${row.clock.uncertaintyMs.toFixed(3)} ms (not corrected)`]
        : []),
    ]),
  )
  return [
    TITLES[scenario],
    table(['system', 'variant', 'n', 'p50', 'p90', 'p99', 'max', 'peer ÷ Offload p50 / p99  (Offload: target)'], body, new Set([2, 3, 4, 5, 6])),
    ...notes,
  ].join('\n')
}

export function renderReport(results: RunResults): string {
  const m = results.machine
  const out: string[] = []
  out.push(
    `Offload bench — ${results.startedAt}${results.medianOf !== undefined ? ` — medians of ${results.medianOf} runs` : ''}${results.quick ? ' (--quick)' : ''}`,
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, load ${m.loadAverage.join(' ')}`,
    `disk: 4 KiB write + fsync p50 ${m.fsyncMicros.p50} µs (p90 ${m.fsyncMicros.p90}), + fdatasync p50 ${m.fdatasyncMicros.p50} µs (p90 ${m.fdatasyncMicros.p90})`,
    `offload: commit ${results.source.commit}${results.source.srcChanged ? ' + uncommitted changes in src/' : ''}`,
    `services: ${Object.entries(m.services).map(([name, version]) => `${name} ${version}`).join(', ')}`,
    '',
  )
  for (const scenario of SCENARIOS) {
    const has = Object.keys(results.scenarios[scenario]).length > 0
    if (!has) continue
    out.push(scenario === 'latency' || scenario === 'wakeup' ? latencySection(results, scenario) : rateSection(results, scenario), '')
  }
  if (results.errors.length > 0) {
    out.push('Errors (scenario skipped for that system):')
    for (const error of results.errors) out.push(`  · ${error.scenario} / ${error.system}: ${error.message.split('\n')[0]}`)
    out.push('')
  }
  out.push('Configuration:')
  for (const system of ORDER) {
    const meta = results.systems[system]
    if (meta === undefined) continue
    out.push(`  ${meta.title} — ${Object.entries(meta.versions).map(([name, version]) => `${name} ${version}`).join(', ')}`)
    out.push(`    durable acknowledgements: ${meta.durableAcks}`)
    for (const [scenario, text] of Object.entries(meta.settings)) out.push(`    ${scenario}: ${text}`)
  }
  return out.join('\n')
}
