import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/**
 * Where the CPU went over one timed step, by process class, read from Linux's /proc so a result
 * can say what bound it: Node (this bench process and every process it started — workers,
 * producers), each local server (`postgres`, `redis-server`: all their processes, so other
 * clients' queries count too), and everything else on the machine ("other": someone else's work,
 * which disturbs the figure). Elsewhere than Linux nothing is measured.
 *
 * A process that exits inside the span takes its CPU with it, so the figures are a lower bound;
 * the bench stops its workers after the span ends, so little is lost.
 */
export interface CpuSplit {
  spanMs: number
  cores: number
  /** This bench process and its descendants. */
  nodeMs: number
  /**
   * The busiest of those processes alone: a Node process runs its JavaScript (and better-sqlite3's
   * calls) on one thread, so one near a whole core is bound by that thread, however idle the rest.
   */
  busiestNodeMs?: number
  /**
   * Processes the step named (`server`, `load generator`), each with its descendants: a share of
   * `nodeMs` when the bench started them, so a step can say which of its processes bound it.
   */
  namedMs?: Record<string, number>
  /** Server processes by name, summed over their processes. */
  serverMs: Record<string, number>
  /** The machine's busy time not accounted for above. */
  otherMs: number
  /** Busy CPU time of the whole machine (all cores, anyone's work). */
  machineBusyMs: number
}

interface ProcessSample {
  name: string
  parent: number
  ms: number
}

interface Snapshot {
  at: number
  processes: Map<number, ProcessSample>
  machineBusyMs: number
}

const SERVER_NAMES = ['postgres', 'redis-server'] as const

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux the bench is likely to meet. */
const TICKS_PER_SECOND = 100

function machineBusyMs(): number {
  // First line of /proc/stat: user nice system idle iowait irq softirq steal …, in ticks.
  const total = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const busyTicks = total.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0)
  return (busyTicks * 1000) / TICKS_PER_SECOND
}

function snapshot(): Snapshot | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    const processes = new Map<number, ProcessSample>()
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      } catch {
        continue // exited while we looked
      }
      // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // After comm: state is field 3 of the man page, ppid 4, utime 14 and stime 15.
      const ticks = Number(fields[11]) + Number(fields[12])
      processes.set(Number(entry), { name, parent: Number(fields[1]), ms: (ticks * 1000) / TICKS_PER_SECOND })
    }
    return { at: performance.now(), processes, machineBusyMs: machineBusyMs() }
  } catch {
    return undefined
  }
}

/** The pids descending from `root` (itself included) in `processes`. */
function family(root: number, processes: Map<number, ProcessSample>): Set<number> {
  const children = new Map<number, number[]>()
  for (const [pid, sample] of processes) children.set(sample.parent, [...(children.get(sample.parent) ?? []), pid])
  const found = new Set<number>([root])
  const queue = [root]
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (!found.has(child)) {
        found.add(child)
        queue.push(child)
      }
    }
  }
  return found
}

/** Start one before a step and `stop` it when the step's timed span ends. */
export class CpuMeter {
  private readonly before = snapshot()

  /** `named`: processes to report apart, by what they are in the step (`{ server: pid }`). */
  stop(named: Record<string, number> = {}): CpuSplit | undefined {
    const after = snapshot()
    if (this.before === undefined || after === undefined) return undefined
    const spent = (pid: number, now: ProcessSample): number => {
      const then = this.before!.processes.get(pid)
      // A process born inside the span counts whole: all its CPU was spent in it.
      return then === undefined || then.name !== now.name ? now.ms : now.ms - then.ms
    }
    const ours = family(process.pid, after.processes)
    let nodeMs = 0
    let busiestNodeMs = 0
    const serverMs: Record<string, number> = {}
    for (const [pid, now] of after.processes) {
      if (ours.has(pid)) {
        const ms = spent(pid, now)
        nodeMs += ms
        busiestNodeMs = Math.max(busiestNodeMs, ms)
      } else if ((SERVER_NAMES as readonly string[]).includes(now.name)) serverMs[now.name] = (serverMs[now.name] ?? 0) + spent(pid, now)
    }
    const busy = after.machineBusyMs - this.before.machineBusyMs
    const accounted = nodeMs + Object.values(serverMs).reduce((sum, ms) => sum + ms, 0)
    const split: CpuSplit = { spanMs: after.at - this.before.at, cores: cpus().length, nodeMs, busiestNodeMs, serverMs, otherMs: Math.max(0, busy - accounted), machineBusyMs: busy }
    const familyMs = (root: number): number => {
      let ms = 0
      for (const pid of family(root, after.processes)) {
        const now = after.processes.get(pid)
        if (now !== undefined) ms += spent(pid, now)
      }
      return ms
    }
    const names = Object.entries(named)
    if (names.length > 0) split.namedMs = Object.fromEntries(names.map(([name, root]) => [name, familyMs(root)]))
    return split
  }
}

/** The machine's busy share of all its cores over `ms`, 0–1; undefined where /proc is missing. */
export async function machineBusyShare(ms: number): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined
  const from = machineBusyMs()
  const at = performance.now()
  await new Promise((resolve) => setTimeout(resolve, ms))
  return (machineBusyMs() - from) / ((performance.now() - at) * cpus().length)
}
