/**
 * Medians across bench runs: the machine is shared, so one run is noisy; run the bench two or
 * three times and report the median of each figure. Prints the usual report built from medians,
 * then every run's figure per row so the spread is visible.
 * Usage: npx tsx bench/median.ts bench/results/<a>.json bench/results/<b>.json [...]
 */
import { readFileSync } from 'node:fs'
import { formatMs, formatRate, renderReport, SCENARIOS, type RunResults } from './lib/report.js'
import { median } from './lib/stats.js'
import type { LatencyResult, RateResult, SystemName } from './systems/system.js'

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
  scenarios: { bulk: {}, drain: {}, sequential: {}, latency: {}, wakeup: {} },
  errors: runs.flatMap((run) => run.errors),
  medianOf: runs.length,
}
const spread: string[] = []

for (const scenario of SCENARIOS) {
  const systems = new Set(runs.flatMap((run) => Object.keys(run.scenarios[scenario]) as SystemName[]))
  for (const system of systems) {
    const variants = [...new Set(runs.flatMap((run) => (run.scenarios[scenario][system] ?? []).map((row) => row.variant)))]
    const rows: (RateResult | LatencyResult)[] = []
    for (const variant of variants) {
      const same = runs.flatMap((run) => (run.scenarios[scenario][system] ?? []).filter((row) => row.variant === variant))
      if (scenario === 'latency' || scenario === 'wakeup') {
        const latency = same as LatencyResult[]
        const pick = (key: keyof LatencyResult['summary']): number => median(latency.map((row) => row.summary[key]))
        rows.push({
          ...latency[0]!,
          samples: [],
          summary: { n: pick('n'), p50: pick('p50'), p90: pick('p90'), p99: pick('p99'), max: pick('max'), mean: pick('mean') },
          partial: latency.some((row) => row.partial),
        })
        spread.push(`  ${scenario.padEnd(10)} ${system.padEnd(9)} ${variant}: p50 ${latency.map((row) => formatMs(row.summary.p50)).join(', ')}; p99 ${latency.map((row) => formatMs(row.summary.p99)).join(', ')}`)
      } else {
        const rate = same as RateResult[]
        rows.push({
          ...rate[0]!,
          jobs: median(rate.map((row) => row.jobs)),
          ms: median(rate.map((row) => row.ms)),
          rate: median(rate.map((row) => row.rate)),
          partial: rate.some((row) => row.partial),
        })
        spread.push(`  ${scenario.padEnd(10)} ${system.padEnd(9)} ${variant}: ${rate.map((row) => formatRate(row.rate)).join(', ')} jobs/s`)
      }
    }
    ;(merged.scenarios[scenario] as Record<string, unknown[]>)[system] = rows
  }
}

console.log(renderReport(merged))
console.log(`\nEach run's figure (${files.join(', ')}):`)
console.log(spread.join('\n'))
