import { closeSync, fdatasyncSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs'
import { cpus, freemem, loadavg, release, totalmem, type as osType } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { percentile } from './stats.js'

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  freeMemoryGiB: number
  os: string
  node: string
  /** 1-minute load average at the start: other engineers share this machine. */
  loadAverage: number[]
  /** Measured here: one 4 KiB write + fsync / fdatasync in the temp directory, µs. */
  fsyncMicros: SyncCost
  fdatasyncMicros: SyncCost
}

export interface SyncCost {
  p50: number
  p90: number
  samples: number
}

/**
 * Times `write(4 KiB) + fsync` (or fdatasync) in `dir`. This is the floor under every durable commit on the
 * machine: a store that fsyncs once per acknowledged write cannot acknowledge sequential writes
 * faster than 1 / this.
 */
export function measureSync(dir: string, sync: (fd: number) => void, samples = 200): SyncCost {
  const file = join(dir, 'fsync-probe')
  const fd = openSync(file, 'w')
  const block = Buffer.alloc(4096, 1)
  const times: number[] = []
  try {
    for (let i = 0; i < samples; i++) {
      // Overwrite the same block, as a WAL that is reused after a checkpoint does.
      const started = performance.now()
      writeSync(fd, block, 0, block.length, 0)
      sync(fd)
      times.push((performance.now() - started) * 1000)
    }
  } finally {
    closeSync(fd)
    rmSync(file, { force: true })
  }
  times.sort((a, b) => a - b)
  return { p50: Math.round(percentile(times, 50)), p90: Math.round(percentile(times, 90)), samples }
}

export function machineInfo(tmpDir: string): MachineInfo {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    fsyncMicros: measureSync(tmpDir, fsyncSync),
    fdatasyncMicros: measureSync(tmpDir, fdatasyncSync),
  }
}
