import type { CpuSplit } from './cpu.js'
import type { MachineInfo } from './machine.js'
import { median, range } from './stats.js'
import { SCENARIOS, type Plan, type ScenarioName } from './steps.js'
import type { Measurement, SystemName } from '../systems/system.js'

export interface SystemMeta {
  title: string
  settings: Record<string, string>
  durableAcks: string
  versions: Record<string, string>
}

/** One system through one scenario in one round. */
export interface StepResult {
  round: number
  scenario: ScenarioName
  system: SystemName
  startedAt: string
  /** Waiting for a quiet machine before the step, and how busy it was when the step began (0–1 of all cores). */
  quietWaitMs: number
  busyBefore: number | undefined
  rows: Measurement[]
  error?: string
}

export type Metric = 'rate' | 'p50' | 'p95' | 'p99' | 'max'

/** One figure over all rounds: its median and range. */
export interface Figure {
  scenario: ScenarioName
  system: SystemName
  variant: string
  metric: Metric
  median: number
  min: number
  max: number
  /** Rounds that measured it. */
  rounds: number
  /** Rounds cut by a time limit, and rounds disturbed by other work on the machine. */
  partial: number
  disturbed: number
  /** Median CPU by process class, in cores (CPU ms per ms of the span). */
  cores?: { node: number; busiestNode?: number; named?: Record<string, number>; servers: Record<string, number>; other: number; busy: number; of: number }
}

export interface RunResults {
  version: 2
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
  steps: StepResult[]
  figures: Figure[]
}

export const ORDER: readonly SystemName[] = ['offload', 'offload-pg', 'bullmq', 'pgboss', 'graphile']
const OFFLOADS: readonly SystemName[] = ['offload', 'offload-pg']
const SHORT: Record<SystemName, string> = { offload: 'Offload SQLite', 'offload-pg': 'Offload PG', bullmq: 'BullMQ', pgboss: 'pg-boss', graphile: 'Graphile' }

export const TITLES: Record<ScenarioName, string> = {
  sequential: 'Sequential: one producer awaiting each enqueue',
  bulk: 'Bulk enqueue: the bulk API, calls awaited one after another',
  drain: 'Drain: a pre-filled queue, one worker process (start → store shows all completed)',
  latency: 'Latency: enqueue → handler start across two processes (open loop)',
  scaling: 'Scaling: a pre-filled queue drained by 1, 2 and 4 worker processes',
  mixed: 'Mixed load: producers and workers at once',
  payload: 'Payload size: bulk enqueue, then drain, of larger payloads',
  http: 'HTTP API: POST /v1/jobs from autocannon on loopback, keep-alive (Offload only: the peers have no HTTP API)',
}

const METRICS: Record<ScenarioName, Metric[]> = {
  sequential: ['rate'],
  bulk: ['rate'],
  drain: ['rate'],
  latency: ['p50', 'p95', 'p99'],
  scaling: ['rate'],
  mixed: ['rate', 'p50', 'p95', 'p99'],
  payload: ['rate'],
  http: ['rate', 'p50', 'p95', 'p99', 'max'],
}

/** What a rate counts: jobs, or for the HTTP API requests (each one job). */
function metricName(metric: Metric, scenario: ScenarioName): string {
  return metric === 'rate' && scenario === 'http' ? 'req/s' : METRIC_NAMES[metric]
}

function valueOf(row: Measurement, metric: Metric): number {
  return metric === 'rate' ? (row.rate ?? NaN) : (row.latency?.[metric] ?? NaN)
}

/** Medians and ranges over the rounds, one figure per scenario, system, variant and metric. */
export function aggregate(steps: readonly StepResult[]): Figure[] {
  const groups = new Map<string, { scenario: ScenarioName; system: SystemName; variant: string; rows: Measurement[] }>()
  for (const step of steps) {
    for (const row of step.rows) {
      const key = `${step.scenario}\u0000${step.system}\u0000${row.variant}`
      const group = groups.get(key) ?? { scenario: step.scenario, system: step.system, variant: row.variant, rows: [] }
      group.rows.push(row)
      groups.set(key, group)
    }
  }
  const figures: Figure[] = []
  for (const { scenario, system, variant, rows } of groups.values()) {
    for (const metric of METRICS[scenario]) {
      const values = rows.map((row) => valueOf(row, metric))
      if (!values.some(Number.isFinite)) continue
      const figure: Figure = {
        scenario,
        system,
        variant,
        metric,
        median: median(values),
        ...range(values),
        rounds: rows.length,
        partial: rows.filter((row) => row.partial).length,
        disturbed: rows.filter((row) => row.disturbed !== undefined).length,
      }
      const cores = medianCores(rows.flatMap((row) => (row.cpu === undefined ? [] : [row.cpu])))
      if (cores !== undefined) figure.cores = cores
      figures.push(figure)
    }
  }
  return figures
}

function medianCores(all: CpuSplit[]): Figure['cores'] {
  if (all.length === 0) return undefined
  const per = (pick: (cpu: CpuSplit) => number): number => median(all.map((cpu) => pick(cpu) / cpu.spanMs))
  const names = [...new Set(all.flatMap((cpu) => Object.keys(cpu.serverMs)))]
  const named = [...new Set(all.flatMap((cpu) => Object.keys(cpu.namedMs ?? {})))]
  const withBusiest = all.filter((cpu) => cpu.busiestNodeMs !== undefined)
  return {
    node: per((cpu) => cpu.nodeMs),
    ...(withBusiest.length > 0 ? { busiestNode: median(withBusiest.map((cpu) => cpu.busiestNodeMs! / cpu.spanMs)) } : {}),
    ...(named.length > 0 ? { named: Object.fromEntries(named.map((name) => [name, per((cpu) => cpu.namedMs?.[name] ?? 0)])) } : {}),
    servers: Object.fromEntries(names.map((name) => [name, per((cpu) => cpu.serverMs[name] ?? 0)])),
    other: per((cpu) => cpu.otherMs),
    busy: per((cpu) => cpu.machineBusyMs),
    of: all[0]!.cores,
  }
}

/** Higher is better for rates, lower for latencies: `a` over `b` so that above 1 means `a` is better. */
function better(metric: Metric, a: number, b: number): number {
  return metric === 'rate' ? a / b : b / a
}

function find(figures: readonly Figure[], scenario: ScenarioName, system: SystemName, variant: string, metric: Metric): Figure | undefined {
  return figures.find((f) => f.scenario === scenario && f.system === system && f.variant === variant && f.metric === metric)
}

/** The best peer's figure for the same work, or undefined when no peer measured it. */
export function bestPeer(figures: readonly Figure[], figure: Figure): Figure | undefined {
  let top: Figure | undefined
  for (const other of figures) {
    if (OFFLOADS.includes(other.system) || other.scenario !== figure.scenario || other.variant !== figure.variant || other.metric !== figure.metric) continue
    if (!Number.isFinite(other.median)) continue
    if (top === undefined || better(figure.metric, other.median, top.median) > 1) top = other
  }
  return top
}

/** Issue 4's targets (ratios to peers in the same run, and one absolute bound) and issue 5's (absolute). */
interface Target {
  system: SystemName
  scenario: ScenarioName
  variant: string
  metric: Metric
  text: string
  /** Against a peer's figure (its variant may differ: Graphile at its defaults), or the best peer's. */
  against?: { system: SystemName; variant?: string } | 'best'
  /** At least this ratio (Offload better by this factor), or, with `atMostMs` / `atLeast`, an absolute bound. */
  factor?: number
  atMostMs?: number
  /** A rate of at least this. */
  atLeast?: number
}

export const TARGETS: readonly Target[] = [
  { system: 'offload', scenario: 'drain', variant: 'c=50', metric: 'rate', against: { system: 'bullmq' }, factor: 2, text: 'SQLite processing ≥ 2× BullMQ (c=50)' },
  { system: 'offload', scenario: 'drain', variant: 'c=10', metric: 'rate', against: { system: 'bullmq' }, factor: 2, text: 'SQLite processing ≥ 2× BullMQ (c=10)' },
  { system: 'offload', scenario: 'bulk', variant: 'calls of 1,000', metric: 'rate', against: 'best', factor: 2, text: 'SQLite bulk enqueue ≥ 2× the best peer' },
  { system: 'offload', scenario: 'latency', variant: '500 jobs 10 ms apart', metric: 'p50', against: { system: 'bullmq' }, factor: 1, text: "SQLite latency p50 ≤ BullMQ's" },
  { system: 'offload-pg', scenario: 'drain', variant: 'c=50', metric: 'rate', against: { system: 'bullmq' }, factor: 1, text: 'PG processing ≥ 1× BullMQ (c=50)' },
  { system: 'offload-pg', scenario: 'drain', variant: 'c=10', metric: 'rate', against: { system: 'bullmq' }, factor: 1, text: 'PG processing ≥ 1× BullMQ (c=10)' },
  { system: 'offload-pg', scenario: 'drain', variant: 'c=50', metric: 'rate', against: { system: 'graphile', variant: 'c=50 · defaults' }, factor: 4, text: 'PG processing ≥ 4× Graphile at its defaults (c=50)' },
  { system: 'offload-pg', scenario: 'drain', variant: 'c=10', metric: 'rate', against: { system: 'graphile', variant: 'c=10 · defaults' }, factor: 4, text: 'PG processing ≥ 4× Graphile at its defaults (c=10)' },
  { system: 'offload-pg', scenario: 'bulk', variant: 'calls of 1,000', metric: 'rate', against: { system: 'graphile' }, factor: 1.5, text: 'PG bulk enqueue ≥ 1.5× Graphile' },
  { system: 'offload-pg', scenario: 'latency', variant: '500 jobs 10 ms apart', metric: 'p99', atMostMs: 10, text: 'PG latency p99 ≤ 10 ms' },
  // Issue 5 asks PostgreSQL's HTTP figure to be reported, with no target.
  { system: 'offload', scenario: 'http', variant: '50 connections', metric: 'rate', atLeast: 10_000, text: 'SQLite HTTP enqueue ≥ 10,000 req/s (50 connections)' },
  { system: 'offload', scenario: 'http', variant: '50 connections', metric: 'p99', atMostMs: 20, text: 'SQLite HTTP enqueue p99 ≤ 20 ms (50 connections)' },
]

export interface Verdict {
  target: Target
  offload: Figure | undefined
  peer: Figure | undefined
  ratio: number
  pass: boolean | undefined
}

export function verdicts(figures: readonly Figure[], plan: Plan): Verdict[] {
  return TARGETS.map((target) => {
    // The quick plan's counts differ; its variants carry other numbers, so match by prefix there.
    const variant = target.scenario === 'latency' ? `${plan.latency.jobs} jobs ${plan.latency.spacingMs} ms apart` : target.variant
    const offload = find(figures, target.scenario, target.system, variant, target.metric)
    if (offload === undefined) return { target, offload, peer: undefined, ratio: NaN, pass: undefined }
    if (target.atMostMs !== undefined) return { target, offload, peer: undefined, ratio: NaN, pass: offload.median <= target.atMostMs && offload.partial === 0 }
    if (target.atLeast !== undefined) return { target, offload, peer: undefined, ratio: NaN, pass: offload.median >= target.atLeast && offload.partial === 0 }
    const peer =
      target.against === 'best'
        ? bestPeer(figures, offload)
        : find(figures, target.scenario, target.against!.system, target.against!.variant ?? variant, target.metric)
    if (peer === undefined) return { target, offload, peer, ratio: NaN, pass: undefined }
    const ratio = better(target.metric, offload.median, peer.median)
    return { target, offload, peer, ratio, pass: ratio >= target.factor! && offload.partial === 0 }
  })
}

export function formatValue(metric: Metric, value: number): string {
  if (!Number.isFinite(value)) return '—'
  if (metric === 'rate') return Math.round(value).toLocaleString('en-US')
  if (value >= 100) return `${Math.round(value).toLocaleString('en-US')} ms`
  if (value >= 10) return `${value.toFixed(1)} ms`
  return `${value.toFixed(2)} ms`
}

function ratioText(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return '—'
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(2)}×`
}

function table(header: string[], rows: string[][]): string {
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|')
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n')
}

/** "node 1.10 · postgres 0.62 · other 0.03 — CPU-bound"; "node 1.52 (server 0.97, load generator 0.55) — …" */
export function coresText(cores: Figure['cores']): string {
  if (cores === undefined) return '—'
  const named = Object.entries(cores.named ?? {})
  const parts = [`node ${cores.node.toFixed(2)}${named.length > 0 ? ` (${named.map(([name, value]) => `${name} ${value.toFixed(2)}`).join(', ')})` : ''}`]
  for (const [name, value] of Object.entries(cores.servers)) if (value >= 0.005) parts.push(`${name === 'redis-server' ? 'redis' : name} ${value.toFixed(2)}`)
  if (cores.other >= 0.005) parts.push(`other ${cores.other.toFixed(2)}`)
  // Nearly every core busy: the step was bound by CPU; one Node process near a whole core: by that
  // process's thread (named when the step named it: the server's, the load generator's); otherwise
  // by waiting (round trips, fsync, timers).
  const [busiestName, busiestNamed] = named.reduce<[string, number]>((top, [name, value]) => (value > top[1] ? [name, value] : top), ['', 0])
  const thread =
    busiestNamed >= 0.85 ? `the ${busiestName}'s thread (${busiestNamed.toFixed(2)} core)`
    : (cores.busiestNode ?? 0) >= 0.85 ? `one Node process's thread (${cores.busiestNode!.toFixed(2)} core)`
    : undefined
  const bound =
    cores.busy >= 0.85 * cores.of ? `CPU-bound${thread !== undefined && named.length > 0 ? `, ${thread}` : ''}`
    : (thread ?? `waiting (${Math.round((cores.busy / cores.of) * 100)}% busy)`)
  return `${parts.join(' · ')} — ${bound}`
}

function figureText(figure: Figure): string {
  const spread = figure.rounds > 1 ? ` [${formatValue(figure.metric, figure.min)}–${formatValue(figure.metric, figure.max)}]` : ''
  return `${formatValue(figure.metric, figure.median)}${spread}`
}

function flags(figure: Figure): string {
  const out: string[] = []
  if (figure.partial > 0) out.push(`cut by time limit in ${figure.partial}/${figure.rounds}`)
  if (figure.disturbed > 0) out.push(`disturbed in ${figure.disturbed}/${figure.rounds}`)
  return out.join('; ')
}

const METRIC_NAMES: Record<Metric, string> = { rate: 'jobs/s', p50: 'p50', p95: 'p95', p99: 'p99', max: 'max' }

function scenarioSection(results: RunResults, scenario: ScenarioName): string | undefined {
  const figures = results.figures.filter((f) => f.scenario === scenario)
  if (figures.length === 0) return undefined
  const variants = [...new Set(figures.map((f) => f.variant))]
  const rows: string[][] = []
  for (const variant of variants) {
    for (const system of ORDER) {
      const mine = figures.filter((f) => f.system === system && f.variant === variant)
      if (mine.length === 0) continue
      const vs = mine.map((f) => {
        if (!OFFLOADS.includes(system)) return ''
        const peer = bestPeer(results.figures, f)
        return peer === undefined ? '' : `${ratioText(better(f.metric, f.median, peer.median))} ${SHORT[peer.system]}`
      })
      rows.push([
        SHORT[system],
        variant,
        mine.map((f) => `${metricName(f.metric, scenario)} ${figureText(f)}`).join('; '),
        vs.filter(Boolean).join('; '),
        coresText(mine[0]!.cores),
        [...new Set(mine.map(flags).filter(Boolean))].join('; '),
      ])
    }
  }
  // One note per system and variant, from the first round that has one: the flags count the rest.
  const noted = new Map<string, string>()
  for (const step of results.steps.filter((step) => step.scenario === scenario)) {
    for (const row of step.rows) {
      const key = `${step.system}\u0000${row.variant}`
      if (!noted.has(key) && (row.notes ?? []).length > 0) noted.set(key, `${SHORT[step.system]}, ${row.variant} (round ${step.round}): ${row.notes!.join('; ')}`)
    }
  }
  const unique = [...noted.values()]
  return [
    `### ${TITLES[scenario]}`,
    '',
    table(['system', 'variant', 'median [min–max] over rounds', 'Offload ÷ best peer', 'CPU in cores (median)', 'flags'], rows),
    ...(unique.length > 0 ? ['', ...unique.slice(0, 12).map((note) => `- ${note}`)] : []),
  ].join('\n')
}

export function renderReport(results: RunResults): string {
  const m = results.machine
  const out: string[] = []
  out.push(
    `## Offload bench — ${results.startedAt}${results.quick ? ' (--quick: a smoke run, not figures)' : ''}`,
    '',
    `- command: \`${results.command}\`; ${results.plan.rounds} round${results.plan.rounds === 1 ? '' : 's'}, systems interleaved (order rotated each round); ${results.durationS} s`,
    `- machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, load ${m.loadAverage.join(' ')}`,
    `- disk: 4 KiB write + fsync p50 ${m.fsyncMicros.p50} µs (p90 ${m.fsyncMicros.p90}), + fdatasync p50 ${m.fdatasyncMicros.p50} µs`,
    `- offload: commit ${results.source.commit}${results.source.srcChanged ? ' + uncommitted changes in src/' : ''}`,
    `- services: ${Object.entries(m.services).map(([name, version]) => `${name} ${version}`).join(', ')}`,
    `- versions: ${ORDER.flatMap((system) => {
      const meta = results.systems[system]
      return meta === undefined ? [] : [`${meta.title} ${Object.entries(meta.versions).filter(([name]) => name !== 'postgresql' && name !== 'redis').map(([name, version]) => `${name} ${version}`).join(', ')}`.trim()]
    }).join('; ')}`,
    '',
  )
  const judged = verdicts(results.figures, results.plan).filter((verdict) => verdict.offload !== undefined)
  if (judged.length > 0) {
    out.push(
      '### Targets (issues 4 and 5)',
      '',
      table(
        ['target', 'Offload', 'against', 'ratio', 'verdict'],
        judged.map(({ target, offload, peer, ratio, pass }) => [
          target.text,
          `${metricName(target.metric, target.scenario)} ${figureText(offload!)}`,
          peer !== undefined ? `${SHORT[peer.system]}${peer.variant !== offload!.variant ? ` ${peer.variant}` : ''} ${formatValue(peer.metric, peer.median)}`
          : target.atMostMs !== undefined ? `${target.atMostMs} ms`
          : target.atLeast !== undefined ? `${formatValue('rate', target.atLeast)} ${metricName('rate', target.scenario)}`
          : 'no peer figure',
          ratioText(ratio),
          pass === undefined ? '—' : pass ? 'PASS' : 'SHORT',
        ]),
      ),
      '',
    )
  }
  for (const scenario of SCENARIOS) {
    const section = scenarioSection(results, scenario)
    if (section !== undefined) out.push(section, '')
  }
  const errors = results.steps.filter((step) => step.error !== undefined)
  if (errors.length > 0) {
    out.push('### Errors (the step was skipped for that system and round)', '')
    for (const step of errors) out.push(`- ${step.scenario} / ${step.system} / round ${step.round}: ${step.error!.split('\n')[0]}`)
    out.push('')
  }
  out.push('### Configuration', '')
  for (const system of ORDER) {
    const meta = results.systems[system]
    if (meta === undefined) continue
    out.push(`- **${meta.title}** — ${Object.entries(meta.versions).map(([name, version]) => `${name} ${version}`).join(', ')}; durable acknowledgements: ${meta.durableAcks}`)
    for (const [what, text] of Object.entries(meta.settings)) out.push(`  - ${what}: ${text}`)
  }
  return out.join('\n')
}
