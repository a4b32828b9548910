import { performance } from 'node:perf_hooks'

/**
 * Wall-clock milliseconds with sub-millisecond resolution. Two processes on one machine share the
 * system clock, so a timestamp taken here in a producer and one taken in a worker process can be
 * subtracted; `Date.now()` would round both to whole milliseconds, too coarse for wake-ups.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * Microseconds on the monotonic clock, the one V8's CPU profiles use: the span of a profile worth
 * summarising (`.window.json`) is written in it, by any process on the machine.
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects with a labelled error when `promise` takes longer than `ms`; the timer never keeps the process alive. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(ms)} ms`)), ms)
        timer.unref()
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
