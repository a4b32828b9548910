import { checkObject, checkOptions, checkString } from './config.js'
import { parseDuration } from './duration.js'
import { OffloadError } from './errors.js'
import type { EnqueueOptions } from './job.js'
import { MAX_DELAY_MS, MAX_KEY_LENGTH } from './offload.js'

/** A debounced or throttled enqueue: its options checked, durations in milliseconds. */
export type EnqueueFlow =
  | { kind: 'debounce'; key: string; delayMs: number; maxWaitMs?: number }
  | { kind: 'throttle'; key: string; windowMs: number }

const DEBOUNCE_OPTIONS = ['key', 'delay', 'maxWait'] as const
const THROTTLE_OPTIONS = ['key', 'window'] as const

/**
 * Checks one job's `debounce` or `throttle` and what it cannot go with; undefined when it has
 * neither. `at` names the job in a batch (" (job 3)") in messages.
 */
export function checkEnqueueFlow(options: EnqueueOptions, at = ''): EnqueueFlow | undefined {
  const { debounce, throttle } = options
  if (debounce === undefined && throttle === undefined) return undefined
  if (debounce !== undefined && throttle !== undefined) {
    throw new OffloadError('INVALID_OPTION', `give debounce or throttle, not both${at}`, { option: 'debounce' })
  }
  const name = debounce !== undefined ? 'debounce' : 'throttle'
  // Each answers "which job stands for this one" its own way; an idempotency key is a third way.
  if (options.key !== undefined) {
    throw new OffloadError('INVALID_OPTION', `${name} and key do not combine: ${name} has a key of its own${at}`, { option: name })
  }
  // The key's lock and the job are one store transaction, which cannot be the application's.
  if (options.transaction !== undefined) {
    throw new OffloadError('INVALID_OPTION', `${name} cannot join your transaction${at}`, { option: name })
  }
  if (debounce !== undefined) {
    if (options.delay !== undefined || options.runAt !== undefined) {
      throw new OffloadError('INVALID_OPTION', `debounce sets the run time: give debounce.delay instead of delay or runAt${at}`, { option: 'debounce' })
    }
    const settings = checkObject(debounce, 'debounce')
    checkOptions(settings, DEBOUNCE_OPTIONS, 'debounce')
    const flow: EnqueueFlow = {
      kind: 'debounce',
      key: checkString(settings.key, 'debounce.key', MAX_KEY_LENGTH),
      delayMs: flowDuration(settings.delay, 'debounce.delay'),
    }
    if (settings.maxWait !== undefined) {
      flow.maxWaitMs = flowDuration(settings.maxWait, 'debounce.maxWait')
      if (flow.maxWaitMs < flow.delayMs) {
        throw new OffloadError('INVALID_OPTION', `debounce.maxWait must be at least debounce.delay${at}`, { option: 'debounce.maxWait' })
      }
    }
    return flow
  }
  const settings = checkObject(throttle, 'throttle')
  checkOptions(settings, THROTTLE_OPTIONS, 'throttle')
  return {
    kind: 'throttle',
    key: checkString(settings.key, 'throttle.key', MAX_KEY_LENGTH),
    windowMs: flowDuration(settings.window, 'throttle.window'),
  }
}

/** A debounce delay or throttle window: at least 1 ms (0 would debounce or throttle nothing), at most `delay`'s limit. */
function flowDuration(value: unknown, what: string): number {
  if (value === undefined) throw new OffloadError('INVALID_OPTION', `${what} is required`, { option: what })
  const ms = parseDuration(value, what)
  if (ms < 1 || ms > MAX_DELAY_MS) throw new OffloadError('INVALID_OPTION', `${what} must be between 1ms and 10 years, got ${ms} ms`, { option: what })
  return ms
}
