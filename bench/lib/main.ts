import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { killAllChildren, REPO_ROOT } from './children.js'
import { machineInfo } from './machine.js'
import { DEFAULT_SCENARIOS, renderReport, SCENARIOS, type Plan, type RunResults, type ScenarioName } from './report.js'
import { SYSTEMS, type BenchSystem, type RateResult, type ScenarioContext, type SystemName } from '../systems/system.js'

export interface BenchOptions {
  quick: boolean
  only: SystemName[]
  scenarios: ScenarioName[]
  profile: boolean
}

const USAGE = `usage: npm run bench -- [--quick] [--only ${SYSTEMS.join(',')}] [--scenario ${SCENARIOS.join(',')}] [--profile]

  --quick      smaller counts and time limits (about a minute)
  --only       run only these systems (comma-separated or repeated); offload is Offload on SQLite,
               offload-pg Offload on PostgreSQL
  --scenario   run only these scenarios; without it, all but history (${DEFAULT_SCENARIOS.join(', ')}).
               history (Offload on PostgreSQL only) fills a million finished jobs: about a minute more
  --profile    write CPU profiles of Offload's scenarios to bench/results/profiles/<run>/
               (the drain and wake-up workers run under node --cpu-prof); figures carry the profiler's overhead`

export function parseArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = { quick: false, only: [], scenarios: [], profile: false }
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
      case '--profile':
        options.profile = true
        break
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

export function planFor(quick: boolean): Plan {
  return quick
    ? {
        bulkJobs: 20_000,
        drainJobs: 5_000,
        concurrency: 50,
        sequentialJobs: 1_000,
        latency: { samples: 300, warmup: 20, pauseMs: 3, jitterMs: 4, timeLimitMs: 6_000 },
        wakeup: { samples: 200, warmup: 10, pauseMs: 3, jitterMs: 4, timeLimitMs: 6_000 },
        timeLimitMs: 8_000,
        history: { finishedJobs: 100_000, drainJobs: 5_000 },
      }
    : {
        bulkJobs: 100_000,
        drainJobs: 20_000,
        concurrency: 50,
        sequentialJobs: 5_000,
        latency: { samples: 2_000, warmup: 50, pauseMs: 3, jitterMs: 4, timeLimitMs: 15_000 },
        wakeup: { samples: 1_000, warmup: 20, pauseMs: 3, jitterMs: 4, timeLimitMs: 12_000 },
        timeLimitMs: 15_000,
        history: { finishedJobs: 1_000_000, drainJobs: 20_000 },
      }
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

export async function main(argv: readonly string[]): Promise<void> {
  const options = parseArgs(argv)
  const plan = planFor(options.quick)
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
  const scenarios = options.scenarios.length > 0 ? SCENARIOS.filter((name) => options.scenarios.includes(name)) : [...DEFAULT_SCENARIOS]
  const began = performance.now()

  try {
    const machine = { ...machineInfo(tmpDir), services: {} as Record<string, string> }
    const results: RunResults = {
      version: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: '',
      durationS: 0,
      command: ['npm run bench --', ...argv].join(' '),
      quick: options.quick,
      source: sourceVersion(),
      plan,
      machine,
      systems: {},
      scenarios: { bulk: {}, drain: {}, sequential: {}, latency: {}, wakeup: {}, history: {} },
      errors: [],
    }
    log(`Offload bench: ${selected.join(', ')} × ${scenarios.join(', ')}${options.quick ? ' (quick)' : ''}; SQLite files in ${tmpDir}`)
    if (scenarios.includes('history') && !selected.includes('offload-pg')) log('  history: only offload-pg has it; add offload-pg to --only')

    const systems: BenchSystem[] = []
    for (const name of selected) {
      try {
        const system = await loadSystem(name)
        const versions = await system.probe()
        Object.assign(machine.services, versions)
        results.systems[name] = { title: system.title, settings: system.settings, durableAcks: system.durableAcks, versions }
        if (system.server !== undefined) results.systems[name].server = system.server
        systems.push(system)
      } catch (error) {
        log(`  ${name}: not available, skipped — ${(error as Error).message}`)
        for (const scenario of scenarios) results.errors.push({ scenario, system: name, message: `not available: ${(error as Error).message}` })
      }
    }

    for (const scenario of scenarios) {
      log(`\n▸ ${scenario}`)
      for (const system of systems) {
        if (scenario === 'history' && system.history === undefined) continue
        const at = performance.now()
        try {
          await runScenario(scenario, system, ctx, plan, results)
          log(`  ${system.name}: done in ${((performance.now() - at) / 1000).toFixed(1)} s`)
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error)
          log(`  ${system.name}: FAILED — ${message.split('\n')[0]}`)
          results.errors.push({ scenario, system: system.name, message })
        } finally {
          // A scenario that threw may have left a worker process behind.
          killAllChildren()
        }
      }
    }

    results.finishedAt = new Date().toISOString()
    results.durationS = Math.round((performance.now() - began) / 100) / 10
    log('\n' + renderReport(results))
    await mkdir(resultsDir, { recursive: true })
    const file = join(resultsDir, `${startedAt.toISOString()}.json`)
    await writeFile(file, JSON.stringify(results, roundForJson, 2) + '\n')
    log(`\nresults: ${file}  (${results.durationS} s)`)
    if (profileDir !== undefined) log(`profiles: ${profileDir}  (summarise with: npx tsx bench/profile-summary.ts ${profileDir}/<file>.cpuprofile)`)
  } finally {
    await cleanup()
  }
}

async function runScenario(scenario: ScenarioName, system: BenchSystem, ctx: ScenarioContext, plan: Plan, results: RunResults): Promise<void> {
  const name = system.name
  switch (scenario) {
    case 'bulk': {
      const rows = (results.scenarios.bulk[name] = [] as NonNullable<RunResults['scenarios']['bulk'][SystemName]>)
      for (const chunk of system.bulkChunks) {
        const row = await system.bulkEnqueue(ctx, plan.bulkJobs, chunk, plan.timeLimitMs)
        rows.push(row)
        ctx.log(`    ${row.variant}: ${Math.round(row.rate).toLocaleString('en-US')} jobs/s`)
      }
      break
    }
    case 'drain': {
      const rows = await system.drain(ctx, plan.drainJobs, plan.concurrency, plan.timeLimitMs)
      results.scenarios.drain[name] = rows
      for (const row of rows) ctx.log(`    ${row.variant}: ${Math.round(row.rate).toLocaleString('en-US')} jobs/s${row.profile ? `  profile: ${row.profile}` : ''}`)
      break
    }
    case 'sequential': {
      const rows = (results.scenarios.sequential[name] = [] as RateResult[])
      // Just before the system's own run, so both meet the same machine.
      for (const reference of (await system.sequentialReferences?.(ctx)) ?? []) {
        rows.push(reference)
        ctx.log(`    ${reference.variant}: ${Math.round(reference.rate).toLocaleString('en-US')} commits/s`)
      }
      const row = await system.sequentialEnqueue(ctx, plan.sequentialJobs, plan.timeLimitMs)
      rows.push(row)
      ctx.log(`    ${row.variant}: ${Math.round(row.rate).toLocaleString('en-US')} jobs/s`)
      break
    }
    case 'latency': {
      const row = await system.latencyInProcess(ctx, plan.latency)
      results.scenarios.latency[name] = [row]
      ctx.log(`    p50 ${row.summary.p50.toFixed(3)} ms, p99 ${row.summary.p99.toFixed(3)} ms (n ${row.summary.n})`)
      break
    }
    case 'history': {
      const rows = await system.history!(ctx, plan.history!, plan.concurrency, plan.timeLimitMs)
      results.scenarios.history![name] = rows
      for (const row of rows) ctx.log(`    ${row.variant}: ${Math.round(row.rate).toLocaleString('en-US')} jobs/s${row.profile ? `  profile: ${row.profile}` : ''}`)
      break
    }
    case 'wakeup': {
      const row = await system.wakeupAcrossProcesses(ctx, plan.wakeup)
      results.scenarios.wakeup[name] = [row]
      ctx.log(`    p50 ${row.summary.p50.toFixed(3)} ms, p99 ${row.summary.p99.toFixed(3)} ms (n ${row.summary.n})`)
      break
    }
  }
}

/** Microseconds are plenty: keeps the JSON of 2,000-sample latency runs readable. */
function roundForJson(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value
}
