/**
 * Before and after: the figures two bench runs share, side by side with after ÷ before (above 1:
 * better, for latencies too), as a Markdown table. Made for a change to Offload measured by one
 * run before it and one after, on the same machine.
 * Usage: npx tsx bench/compare.ts bench/results/<before>.json bench/results/<after>.json [--only offload,offload-pg]
 */
import { readFileSync } from 'node:fs'
import { aggregate, formatValue, type Figure, type RunResults } from './lib/report.js'

const args = process.argv.slice(2)
const onlyAt = args.indexOf('--only')
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : ['offload', 'offload-pg']
const files = args.filter((arg, i) => !arg.startsWith('--') && (onlyAt < 0 || i !== onlyAt + 1))
if (files.length !== 2) {
  console.error('usage: npx tsx bench/compare.ts <before.json> <after.json> [--only offload,offload-pg]')
  process.exit(2)
}
const [before, after] = files.map((file) => {
  const results = JSON.parse(readFileSync(file, 'utf8')) as RunResults
  return { results, figures: aggregate(results.steps).filter((figure) => only.includes(figure.system)) }
})

const key = (figure: Figure): string => `${figure.system}\u0000${figure.scenario}\u0000${figure.variant}\u0000${figure.metric}`
const earlier = new Map(before!.figures.map((figure) => [key(figure), figure]))
const range = (figure: Figure): string =>
  `${formatValue(figure.metric, figure.median)}${figure.rounds > 1 ? ` [${formatValue(figure.metric, figure.min)}–${formatValue(figure.metric, figure.max)}]` : ''}`

console.log(`Before: ${before!.results.startedAt}, commit ${before!.results.source.commit}; after: ${after!.results.startedAt}, commit ${after!.results.source.commit}\n`)
console.log('| system | scenario | variant | figure | before | after | after ÷ before |')
console.log('|---|---|---|---|---|---|---|')
for (const figure of after!.figures) {
  const then = earlier.get(key(figure))
  if (then === undefined) continue
  const ratio = figure.metric === 'rate' ? figure.median / then.median : then.median / figure.median
  const name = figure.metric === 'rate' ? 'jobs/s' : figure.metric
  console.log(`| ${figure.system} | ${figure.scenario} | ${figure.variant} | ${name} | ${range(then)} | ${range(figure)} | ${ratio.toFixed(2)}× |`)
}
