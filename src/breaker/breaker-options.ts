import { checkBoolean, checkName, checkNumber, checkObject, checkOptions, checkString } from '../config.js'
import { parseDuration, type Duration } from '../duration.js'
import { OffloadError } from '../errors.js'
import type { BreakerSettings } from '../store/store.js'

/**
 * A task's circuit breaker: when too many of its attempts fail, its jobs wait in the queue — not
 * failed, their attempts not spent — instead of hammering a downstream that is down. Every worker
 * on the store shares one breaker per task (or per task and group).
 */
export interface BreakerOptions {
  /**
   * The failure rate, from 0 to 1, at or above which the breaker opens. Checked at every outcome
   * recorded. @defaultValue 0.5
   */
  threshold?: number
  /** Attempts the rolling window must hold before the breaker may open: a few failures of a quiet task do not. @defaultValue 10 */
  minVolume?: number
  /** The rolling window the failure rate is measured over. @defaultValue `'1m'` */
  window?: Duration
  /** How long the breaker stays open before it lets probe jobs through. @defaultValue `'30s'` */
  cooldown?: Duration
  /** Probe jobs that may run at once while half-open; the first outcome decides. @defaultValue 1 */
  probes?: number
  /**
   * One breaker per job group (the enqueue option `group`) instead of one for the whole task, so
   * one tenant's failing downstream holds back only that tenant's jobs. Jobs without a group share
   * the task-wide breaker. @defaultValue false
   */
  perGroup?: boolean
}

/** A task's breaker, resolved: what the store is given, and whether it is kept per group. */
export interface ResolvedBreaker extends BreakerSettings {
  perGroup: boolean
}

const BREAKER_OPTIONS = ['threshold', 'minVolume', 'window', 'cooldown', 'probes', 'perGroup'] as const

/** Validates a task's `breaker` option; `true` takes every default. */
export function resolveBreaker(value: unknown, where: string): ResolvedBreaker {
  const what = `${where} breaker`
  const options = value === true ? {} : checkObject(value, what)
  checkOptions(options, BREAKER_OPTIONS, what)
  const positive = (option: 'window' | 'cooldown', fallback: string): number => {
    const ms = parseDuration(options[option] ?? fallback, `${what}.${option}`)
    if (ms === 0) throw new OffloadError('INVALID_OPTION', `${what}.${option} must be longer than 0 ms`, { option: `${what}.${option}` })
    return ms
  }
  return {
    threshold: options.threshold === undefined ? 0.5 : checkNumber(options.threshold, `${what}.threshold`, { min: 0, max: 1 }),
    minVolume: options.minVolume === undefined ? 10 : checkNumber(options.minVolume, `${what}.minVolume`, { integer: true, min: 1, max: 1_000_000 }),
    windowMs: positive('window', '1m'),
    cooldownMs: positive('cooldown', '30s'),
    probes: options.probes === undefined ? 1 : checkNumber(options.probes, `${what}.probes`, { integer: true, min: 1, max: 10_000 }),
    perGroup: options.perGroup === undefined ? false : checkBoolean(options.perGroup, `${what}.perGroup`),
  }
}

export interface ResetBreakerOptions {
  /** Only this group's breaker (of a `perGroup` task); without it, every breaker of the task. */
  group?: string
}

const RESET_OPTIONS = ['group'] as const
/** Groups are as long as `JobInsert.group` allows. */
const MAX_GROUP_LENGTH = 256

/** Checks `resetBreaker`'s arguments: the store's params. */
export function checkBreakerReset(task: unknown, options: unknown): { task: string; group?: string } {
  const name = checkName(task, 'task')
  const checked = checkObject(options ?? {}, 'resetBreaker() options')
  checkOptions(checked, RESET_OPTIONS, 'resetBreaker()')
  return checked.group === undefined ? { task: name } : { task: name, group: checkString(checked.group, 'group', MAX_GROUP_LENGTH) }
}

/** The error of a reset that found no breaker. */
export function breakerNotFound(scope: { task: string; group?: string }): OffloadError {
  const what = scope.group === undefined ? `task '${scope.task}'` : `task '${scope.task}', group '${scope.group}'`
  return new OffloadError('BREAKER_NOT_FOUND', `no circuit breaker of ${what} has recorded an outcome`, { task: scope.task, group: scope.group ?? null })
}
