import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/**
 * CPU time of the local servers and of the whole machine, read from Linux's /proc, so a drain can
 * say where its time went: the worker process (it measures itself), the database server, or
 * nobody (round trips, fsync waits). Elsewhere than Linux every figure is undefined.
 *
 * Server processes are found by name. A server process that exits inside the span (a backend
 * whose connection closed, an autovacuum worker) takes its CPU with it, so the figures are a
 * lower bound; the bench's connections outlive the timed span, so little is lost.
 */
export interface CpuSnapshot {
  /** CPU ms of each server process so far, by pid. */
  byProcess: Map<number, { name: string; ms: number }>
  machineBusyMs: number
}

const SERVER_NAMES = new Set(['postgres', 'redis-server'])

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux the bench is likely to meet. */
const TICKS_PER_SECOND = 100

export function cpuSnapshot(): CpuSnapshot | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    const byProcess = new Map<number, { name: string; ms: number }>()
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
      if (!SERVER_NAMES.has(name)) continue
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // After comm: state is field 3 of the man page, utime 14 and stime 15.
      const ticks = Number(fields[11]) + Number(fields[12])
      byProcess.set(Number(entry), { name, ms: (ticks * 1000) / TICKS_PER_SECOND })
    }
    // First line of /proc/stat: user nice system idle iowait irq softirq steal …, in ticks.
    const total = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const busyTicks = total.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0)
    return { byProcess, machineBusyMs: (busyTicks * 1000) / TICKS_PER_SECOND }
  } catch {
    return undefined
  }
}

/**
 * Server CPU by process name and the machine's busy CPU between two snapshots. A server process
 * born between them (a new connection's backend) counts whole: all its CPU was spent in the span.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { serverMs: Record<string, number>; machineBusyMs: number; cores: number } {
  const serverMs: Record<string, number> = {}
  for (const [pid, now] of after.byProcess) {
    const then = before.byProcess.get(pid)
    const spent = then === undefined || then.name !== now.name ? now.ms : now.ms - then.ms
    serverMs[now.name] = (serverMs[now.name] ?? 0) + spent
  }
  return { serverMs, machineBusyMs: after.machineBusyMs - before.machineBusyMs, cores: cpus().length }
}
