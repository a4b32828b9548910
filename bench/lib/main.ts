import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { killAllChildren, REPO_ROOT } from './children.js'
import { machineBusyShare } from './cpu.js'
import { machineInfo } from './machine.js'
import { aggregate, renderReport, type RunResults, type StepResult } from './report.js'
import { appliesTo, planFor, runStep, SCENARIOS, type Plan, type ScenarioName } from './steps.js'
import { renderSvg } from './svg.js'
import { SYSTEMS, type BenchSystem, type ScenarioContext, type SystemName } from '../systems/system.js'

export interface BenchOptions {
  quick: boolean
  only: SystemName[]
  scenarios: ScenarioName[]
  rounds: number | undefined
  publish: boolean
  profile: boolean
  /** Render the report of an earlier run's JSON instead of measuring. */
  from: string | undefined
}

const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--only ${SYSTEMS.join(',')}] [--scenario ${SCENARIOS.join(',')}] [--publish] [--profile]

  --quick      a smoke run: tiny counts, one round, about two minutes; its figures mean nothing
  --rounds     rounds to run (default 3; --quick 1); each round runs every system through every
               scenario, systems interleaved, their order rotated from round to round
  --only       run only these systems (comma-separated or repeated); offload is Offload on SQLite,
               offload-pg Offload on PostgreSQL
  --scenario   run only these scenarios (default: all)
  --publish    also write the report and chart into docs/benchmarks.md and docs/benchmarks.svg
  --profile    run Offload's drain workers and HTTP server under node --cpu-prof; profiles go to
               bench/results/profiles/<run>/ and the figures carry the profiler's overhead
  --from       render the report, chart (and with --publish, the docs) of an earlier run's
               bench/results/<time>.json again, measuring nothing`

export function parseArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { quick: false, only: [], scenarios: [], rounds: undefined, publish: false, profile: false, from: undefined }
  const list = (value: string | undefined, allowed: readonly string[], flag: string): string[] => {
    if (value === undefined) throw new Error(`${flag} needs a value\n\n${USAGE}`)
    const items = value.split(',').map((item) => item.trim()).filter(Boolean)
    for (const item of items) if (!allowed.includes(item)) throw new Error(`${flag}: unknown '${item}' (one of ${allowed.join(', ')})`)
    return items
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    switch (flag) {
      case '--quick':
        options.quick = true
        break
      case '--publish':
        options.publish = true
        break
      case '--profile':
        options.profile = true
        break
      case '--from': {
        const file = inline ?? argv[++i]
        if (file === undefined) throw new Error(`--from needs a results file\n\n${USAGE}`)
        options.from = file
        break
      }
      case '--rounds': {
        const value = Number(inline ?? argv[++i])
        if (!Number.isInteger(value) || value < 1 || value > 20) throw new Error('--rounds needs a whole number from 1 to 20')
        options.rounds = value
        break
      }
      case '--only':
        options.only.push(...(list(inline ?? argv[++i], SYSTEMS, '--only') as SystemName[]))
        break
      case '--scenario':
        options.scenarios.push(...(list(inline ?? argv[++i], SCENARIOS, '--scenario') as ScenarioName[]))
        break
      case '--help':
      case '-h':
        console.log(USAGE)
        process.exit(0)
        break
      default:
        throw new Error(`unknown argument '${arg}'\n\n${USAGE}`)
    }
  }
  return options
}

/** Which Offload was measured: src/ changes under other engineers' hands, so figures name their commit. */
function sourceVersion(): { commit: string; srcChanged: boolean } {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).stdout?.trim() ?? ''
  return { commit: git('rev-parse', '--short', 'HEAD') || 'unknown', srcChanged: git('status', '--porcelain', '--', 'src').length > 0 }
}

async function loadSystem(name: SystemName): Promise<BenchSystem> {
  // Imported on demand: a peer's package loads only when that peer runs.
  switch (name) {
    case 'offload':
      return new (await import('../systems/offload.js')).OffloadSystem()
    case 'offload-pg':
      return new (await import('../systems/offload-pg.js')).OffloadPgSystem()
    case 'bullmq':
      return new (await import('../systems/bullmq.js')).BullmqSystem()
    case 'pgboss':
      return new (await import('../systems/pgboss.js')).PgBossSystem()
    case 'graphile':
      return new (await import('../systems/graphile.js')).GraphileSystem()
  }
}

/**
 * Other work on a shared machine skews a step: wait (up to `plan.quietWaitMs`) until no more than
 * `plan.quietBelow` of the cores are busy. Returns how long it waited and how busy it was then.
 */
async function awaitQuiet(plan: Plan): Promise<{ waitedMs: number; busy: number | undefined }> {
  const began = performance.now()
  let busy = await machineBusyShare(250)
  while (busy !== undefined && busy > plan.quietBelow && performance.now() - began < plan.quietWaitMs) busy = await machineBusyShare(500)
  return { waitedMs: performance.now() - began, busy }
}

/** Cores another process used, on average over a step, above which its figure is flagged. */
const DISTURBED_CORES = 0.25

function markDisturbed(step: StepResult, plan: Plan): void {
  for (const row of step.rows) {
    const reasons: string[] = []
    if (step.busyBefore !== undefined && step.busyBefore > plan.quietBelow) reasons.push(`machine ${Math.round(step.busyBefore * 100)}% busy when it began`)
    if (row.cpu !== undefined && row.cpu.otherMs / row.cpu.spanMs > DISTURBED_CORES) reasons.push(`other processes used ${(row.cpu.otherMs / row.cpu.spanMs).toFixed(2)} cores during it`)
    if (reasons.length > 0) row.disturbed = reasons.join('; ')
  }
}

const DOCS_START = '<!-- bench:results:start -->'
const DOCS_END = '<!-- bench:results:end -->'

/** Puts the report between the markers in docs/benchmarks.md and the chart beside it. */
async function publish(report: string, svgFile: string): Promise<void> {
  const page = join(REPO_ROOT, 'docs', 'benchmarks.md')
  const text = await readFile(page, 'utf8')
  const start = text.indexOf(DOCS_START)
  const end = text.indexOf(DOCS_END)
  if (start < 0 || end < start) throw new Error(`${page} has no ${DOCS_START} … ${DOCS_END} block to fill`)
  const body = report.replace(/^## .*\n/, '')
  await writeFile(page, `${text.slice(0, start + DOCS_START.length)}\n\n![The figures below as a chart](benchmarks.svg)\n\n${body.trim()}\n\n${text.slice(end)}`)
  await copyFile(svgFile, join(REPO_ROOT, 'docs', 'benchmarks.svg'))
}

/** `--from`: the report, chart and docs of a run already measured. */
async function rerender(file: string, publishing: boolean): Promise<void> {
  const results = JSON.parse(await readFile(file, 'utf8')) as RunResults
  if (results.version !== 2) throw new Error(`${file} is not a results file of this bench (version ${String(results.version)})`)
  results.figures = aggregate(results.steps)
  const report = renderReport(results)
  console.log(report)
  const base = file.replace(/\.json$/, '')
  await writeFile(`${base}.md`, report + '\n')
  await writeFile(`${base}.svg`, renderSvg(results))
  if (publishing) await publish(report, `${base}.svg`)
}

export async function main(argv: readonly string[]): Promise<void> {
  const options = parseArgs(argv)
  if (options.from !== undefined) return rerender(options.from, options.publish)
  const plan = planFor(options.quick, options.rounds)
  const startedAt = new Date()
  const runId = startedAt.toISOString().replace(/[:.]/g, '-')
  const tmpDir = await mkdtemp(join(tmpdir(), 'offload-bench-'))
  const resultsDir = join(REPO_ROOT, 'bench', 'results')
  const profileDir = options.profile ? join(resultsDir, 'profiles', runId) : undefined
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true })

  let cleaned = false
  const cleanup = async (): Promise<void> => {
    if (cleaned) return
    cleaned = true
    killAllChildren()
    await rm(tmpDir, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping the bench, killing its worker processes and removing ${tmpDir}`)
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const log = (line: string): void => console.log(line)
  const ctx: ScenarioContext = { quick: options.quick, tmpDir, profileDir, runId, log }
  const selected = options.only.length > 0 ? SYSTEMS.filter((name) => options.only.includes(name)) : [...SYSTEMS]
  const scenarios = options.scenarios.length > 0 ? SCENARIOS.filter((name) => options.scenarios.includes(name)) : [...SCENARIOS]
  const began = performance.now()

  try {
    const machine = { ...machineInfo(tmpDir), services: {} as Record<string, string> }
    const results: RunResults = {
      version: 2,
      startedAt: startedAt.toISOString(),
      finishedAt: '',
      durationS: 0,
      command: ['npm run bench --', ...argv].join(' '),
      quick: options.quick,
      source: sourceVersion(),
      plan,
      machine,
      systems: {},
      steps: [],
      figures: [],
    }
    log(`Offload bench: ${selected.join(', ')} × ${scenarios.join(', ')}, ${plan.rounds} round${plan.rounds === 1 ? '' : 's'}${options.quick ? ' (quick)' : ''}`)

    const systems: BenchSystem[] = []
    let failures = 0
    for (const name of selected) {
      try {
        const system = await loadSystem(name)
        const versions = await system.probe()
        Object.assign(machine.services, versions)
        results.systems[name] = { title: system.title, settings: system.settings, durableAcks: system.durableAcks, versions: { ...(await peerVersions(name)), ...versions } }
        systems.push(system)
      } catch (error) {
        failures++
        log(`  ${name}: not available, skipped — ${(error as Error).message}`)
      }
    }

    const total = plan.rounds * scenarios.reduce((sum, scenario) => sum + systems.filter((system) => appliesTo(scenario, system)).length, 0)
    for (const scenario of scenarios) {
      const without = systems.filter((system) => !appliesTo(scenario, system)).map((system) => system.name)
      if (without.length > 0) log(`  ${scenario}: not for ${without.join(', ')} (no HTTP API of their own)`)
    }
    let done = 0
    for (let round = 1; round <= plan.rounds; round++) {
      // Interleaved: every system runs each scenario before the next scenario starts, and the order
      // rotates each round so no system always runs first (or right after a heavy neighbour).
      const order = systems.map((_, i) => systems[(i + round - 1) % systems.length]!)
      for (const scenario of scenarios) {
        for (const system of order.filter((system) => appliesTo(scenario, system))) {
          const quiet = await awaitQuiet(plan)
          const step: StepResult = {
            round,
            scenario,
            system: system.name,
            startedAt: new Date().toISOString(),
            quietWaitMs: Math.round(quiet.waitedMs),
            busyBefore: quiet.busy,
            rows: [],
          }
          const at = performance.now()
          try {
            step.rows = await runStep(scenario, system, ctx, plan)
          } catch (error) {
            failures++
            step.error = error instanceof Error ? error.message : String(error)
          } finally {
            // A step that threw may have left a worker process behind.
            killAllChildren()
          }
          markDisturbed(step, plan)
          results.steps.push(step)
          done++
          const summary = step.error !== undefined ? `FAILED — ${step.error.split('\n')[0]}` : step.rows.map(describe).join('; ')
          log(`  [${done}/${total}] round ${round} ${scenario} ${system.name} (${((performance.now() - at) / 1000).toFixed(1)} s): ${summary}`)
        }
      }
    }

    results.figures = aggregate(results.steps)
    results.finishedAt = new Date().toISOString()
    results.durationS = Math.round((performance.now() - began) / 100) / 10
    const report = renderReport(results)
    log('\n' + report)
    await mkdir(resultsDir, { recursive: true })
    const base = join(resultsDir, startedAt.toISOString().replace(/:/g, '-'))
    await writeFile(`${base}.json`, JSON.stringify(results, roundForJson, 2) + '\n')
    await writeFile(`${base}.md`, report + '\n')
    await writeFile(`${base}.svg`, renderSvg(results))
    log(`\nresults: ${base}.json, .md, .svg  (${results.durationS} s)`)
    if (options.publish) {
      await publish(report, `${base}.svg`)
      log('published: docs/benchmarks.md, docs/benchmarks.svg')
    }
    if (profileDir !== undefined) log(`profiles: ${profileDir}  (summarise with: npx tsx bench/profile-summary.ts <file>.cpuprofile)`)
    // A step that failed means the harness or a system broke: a smoke run in CI must say so.
    if (failures > 0) throw new Error(`${failures} step${failures === 1 ? '' : 's'} failed (listed under Errors above)`)
  } finally {
    await cleanup()
  }
}

/** The peer package's own version, from bench/node_modules (Offload's is the commit). */
async function peerVersions(name: SystemName): Promise<Record<string, string>> {
  const packageName = { offload: undefined, 'offload-pg': undefined, bullmq: 'bullmq', pgboss: 'pg-boss', graphile: 'graphile-worker' }[name]
  if (packageName === undefined) return {}
  const text = await readFile(join(REPO_ROOT, 'bench', 'node_modules', packageName, 'package.json'), 'utf8')
  return { [packageName]: (JSON.parse(text) as { version: string }).version }
}

function describe(row: { variant: string; rate?: number; latency?: { p50: number; p99: number }; partial: boolean; disturbed?: string }): string {
  const figure =
    row.rate !== undefined
      ? `${Math.round(row.rate).toLocaleString('en-US')} jobs/s`
      : row.latency !== undefined
        ? `p50 ${row.latency.p50.toFixed(2)} ms, p99 ${row.latency.p99.toFixed(2)} ms`
        : '—'
  return `${row.variant} ${figure}${row.latency !== undefined && row.rate !== undefined ? ` (p50 ${row.latency.p50.toFixed(2)} ms)` : ''}${row.partial ? ' (cut)' : ''}${row.disturbed !== undefined ? ' (disturbed)' : ''}`
}

/** Microseconds are plenty: keeps the JSON readable. */
function roundForJson(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value
}
