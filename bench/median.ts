/**
 * Medians across bench runs: the machine is shared, so one run is noisy; run the bench two or
 * three times and report the median of each figure. Prints the usual report built from medians,
 * then every run's figure per row so the spread is visible.
 * Usage: npx tsx bench/median.ts bench/results/<a>.json bench/results/<b>.json [...]
 */
import { readFileSync } from 'node:fs'
import { formatMs, formatRate, renderReport, SCENARIOS, type RunResults } from './lib/report.js'
import { median } from './lib/stats.js'
import type { DrainCpu, DrainResult, LatencyResult, RateResult, SystemName } from './systems/system.js'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: npx tsx bench/median.ts <results.json> [more…]')
  process.exit(2)
}
const runs = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as RunResults)
const first = runs[0]!
const merged: RunResults = {
  ...first,
  startedAt: `${first.startedAt} … ${runs[runs.length - 1]!.startedAt}`,
  scenarios: { bulk: {}, drain: {}, sequential: {}, latency: {}, wakeup: {}, history: {} },
  errors: runs.flatMap((run) => run.errors),
  medianOf: runs.length,
}
const spread: string[] = []

/** Each CPU figure's median across the runs that measured it. */
function medianCpu(all: DrainCpu[]): DrainCpu | undefined {
  if (all.length === 0) return undefined
  const names = [...new Set(all.flatMap((cpu) => Object.keys(cpu.serverMs)))]
  return {
    workerMs: median(all.map((cpu) => cpu.workerMs)),
    serverMs: Object.fromEntries(names.map((name) => [name, median(all.map((cpu) => cpu.serverMs[name] ?? NaN))])),
    machineBusyMs: median(all.map((cpu) => cpu.machineBusyMs)),
    cores: all[0]!.cores,
    spanMs: median(all.map((cpu) => cpu.spanMs)),
  }
}

for (const scenario of SCENARIOS) {
  const rowsIn = (run: RunResults): Partial<Record<SystemName, (RateResult | LatencyResult)[]>> => run.scenarios[scenario] ?? {}
  const systems = new Set(runs.flatMap((run) => Object.keys(rowsIn(run)) as SystemName[]))
  for (const system of systems) {
    const variants = [...new Set(runs.flatMap((run) => (rowsIn(run)[system] ?? []).map((row) => row.variant)))]
    const rows: (RateResult | LatencyResult)[] = []
    for (const variant of variants) {
      const same = runs.flatMap((run) => (rowsIn(run)[system] ?? []).filter((row) => row.variant === variant))
      if (scenario === 'latency' || scenario === 'wakeup') {
        const latency = same as LatencyResult[]
        const pick = (key: keyof LatencyResult['summary']): number => median(latency.map((row) => row.summary[key]))
        rows.push({
          ...latency[0]!,
          samples: [],
          summary: { n: pick('n'), p50: pick('p50'), p90: pick('p90'), p99: pick('p99'), max: pick('max'), mean: pick('mean') },
          partial: latency.some((row) => row.partial),
        })
        spread.push(`  ${scenario.padEnd(10)} ${system.padEnd(10)} ${variant}: p50 ${latency.map((row) => formatMs(row.summary.p50)).join(', ')}; p99 ${latency.map((row) => formatMs(row.summary.p99)).join(', ')}`)
      } else {
        const rate = same as DrainResult[]
        const row: DrainResult = {
          ...rate[0]!,
          jobs: median(rate.map((row) => row.jobs)),
          ms: median(rate.map((row) => row.ms)),
          rate: median(rate.map((row) => row.rate)),
          // One run cut by its time limit marks the median: the spread below says which.
          partial: rate.some((row) => row.partial),
        }
        const cpu = medianCpu(rate.flatMap((row) => (row.cpu === undefined ? [] : [row.cpu])))
        if (cpu === undefined) delete row.cpu
        else row.cpu = cpu
        rows.push(row)
        spread.push(`  ${scenario.padEnd(10)} ${system.padEnd(10)} ${variant}: ${rate.map((row) => formatRate(row.rate) + (row.partial ? ' (cut)' : '')).join(', ')} jobs/s`)
      }
    }
    ;(merged.scenarios[scenario] as Record<string, unknown[]>)[system] = rows
  }
}

console.log(renderReport(merged))
console.log(`\nEach run's figure (${files.join(', ')}):`)
console.log(spread.join('\n'))
