/**
 * Summarises V8 `.cpuprofile` files (from `npm run bench -- --profile`, or `node --cpu-prof`):
 * self time by area (Offload's src, better-sqlite3's native calls, Node internals, GC …), the
 * hottest functions by self time with their main callers, and inclusive time of Offload's own
 * functions. Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [more…] [--top 25]
 *
 * A worker process's profile comes with `<name>.window.json` (the span between the bench's start
 * and stop messages); only samples inside it count, so module loading and shutdown are left out.
 */
import { existsSync, readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import { basename } from 'node:path'
import { sourceMapsFileFor } from './lib/source-maps.js'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

const SRC = new URL('../src/', import.meta.url).href

/** Where a frame's code lives, coarsely: answers "is the time ours, SQLite's, or Node's?". */
function area(frame: CallFrame): string {
  const { url, functionName } = frame
  if (functionName === '(idle)') return 'idle (waiting on the event loop)'
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (functionName === '(program)') return 'V8/native, unattributed (program)'
  if (url === '') return 'native functions (better-sqlite3 calls, builtins)'
  if (url.startsWith(SRC)) return 'offload src/'
  if (url.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3 JS wrapper'
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return `node_modules: ${pkg[1]}`
  if (url.startsWith('node:')) return 'node internals'
  if (url.includes('/bench/')) return 'bench harness'
  return 'other'
}

function label(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  const where = frame.url.startsWith(SRC) ? 'src/' + frame.url.slice(SRC.length) : frame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\//, '')
  return `${name}  ${where}:${frame.lineNumber + 1}`
}

/** Maps positions in tsx's one-line output back to TypeScript lines, where the maps were saved. */
function resolvePositions(profile: CpuProfile, mapsFile: string): void {
  if (!existsSync(mapsFile)) return
  const payloads = JSON.parse(readFileSync(mapsFile, 'utf8')) as Record<string, SourceMapPayload>
  const maps = new Map<string, SourceMap>()
  for (const node of profile.nodes) {
    const frame = node.callFrame
    const payload = payloads[frame.url]
    if (payload === undefined) continue
    let map = maps.get(frame.url)
    if (map === undefined) maps.set(frame.url, (map = new SourceMap(payload)))
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalLine?: number }
    if (entry.originalLine !== undefined) frame.lineNumber = entry.originalLine
  }
}

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(1).padStart(5)}%`
}

function summarise(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  resolvePositions(profile, sourceMapsFileFor(file))
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const windowFile = file.replace(/\.cpuprofile$/, '') + '.window.json'
  const window = existsSync(windowFile) ? (JSON.parse(readFileSync(windowFile, 'utf8')) as { fromUs: number; toUs: number }) : undefined
  // Self time per node from the sample time deltas (µs): more exact than hitCount × interval.
  const self = new Map<number, number>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue
    const id = profile.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0))
  }
  let total = 0
  let idle = 0
  const areas = new Map<string, number>()
  const functions = new Map<string, { us: number; callers: Map<string, number> }>()
  const inclusive = new Map<string, number>()
  for (const [id, us] of self) {
    const node = byId.get(id)!
    total += us
    if (node.callFrame.functionName === '(idle)') idle += us
    const where = area(node.callFrame)
    areas.set(where, (areas.get(where) ?? 0) + us)
    const key = label(node.callFrame)
    const entry = functions.get(key) ?? { us: 0, callers: new Map<string, number>() }
    entry.us += us
    const caller = parent.get(id)
    const callerLabel = caller === undefined ? '(root)' : label(byId.get(caller)!.callFrame)
    entry.callers.set(callerLabel, (entry.callers.get(callerLabel) ?? 0) + us)
    functions.set(key, entry)
    // Inclusive time of src/ functions: each distinct src function on the stack counts once.
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      if (!frame.url.startsWith(SRC)) continue
      const name = label(frame)
      if (seen.has(name)) continue
      seen.add(name)
      inclusive.set(name, (inclusive.get(name) ?? 0) + us)
    }
  }
  const busy = total - idle
  const out: string[] = []
  const span = window === undefined ? '' : ` (window: ${((window.toUs - window.fromUs) / 1000).toFixed(0)} ms from the bench's start to its stop)`
  out.push(`${basename(file)}${span}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (not idle); percentages are of busy time`)
  out.push('', 'self time by area:')
  for (const [where, us] of [...areas].sort((a, b) => b[1] - a[1])) {
    if (where.startsWith('idle')) continue
    out.push(`  ${pct(us, busy)}  ${(us / 1000).toFixed(1).padStart(8)} ms  ${where}`)
  }
  out.push('', `top ${top} functions by self time (← main callers):`)
  const hottest = [...functions].filter(([key]) => key !== '(idle)').sort((a, b) => b[1].us - a[1].us).slice(0, top)
  for (const [key, entry] of hottest) {
    out.push(`  ${pct(entry.us, busy)}  ${(entry.us / 1000).toFixed(1).padStart(8)} ms  ${key}`)
    const callers = [...entry.callers].sort((a, b) => b[1] - a[1]).slice(0, 3)
    for (const [caller, us] of callers) out.push(`  ${''.padStart(20)}← ${pct(us, busy).trim()} ${caller}`)
  }
  out.push('', `Offload src/ functions by inclusive time (top ${top}):`)
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    out.push(`  ${pct(us, busy)}  ${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`)
  }
  return out.join('\n')
}

const args = process.argv.slice(2)
let top = 25
const files: string[] = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i])
  else files.push(args[i]!)
}
if (files.length === 0) {
  console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [more…] [--top 25]')
  process.exit(2)
}
console.log(files.map((file) => summarise(file, top)).join('\n\n'))
