import { checkOptions, checkNumber } from './config.js'
import { parseDuration, describe, type Duration } from './duration.js'
import { OffloadError } from './errors.js'

/**
 * A serialisable retry policy: it can travel with a job, so it is allowed per enqueue.
 *
 * - `exponential`: `min(max, base × factor^(attempt−1))`, then jitter. Defaults: base `'1s'`,
 *   factor `2`, max `'1h'`, jitter `0.5`. Attempt 1 failing waits ~0.5–1 s, attempt 5 ~8–16 s.
 * - `fixed`: `delay` every time, then jitter (default `0`).
 *
 * `jitter` (0…1) is the share of the delay that is random: the wait is
 * `delay × (1 − jitter × random())`. Spreading retries stops a failed dependency from being hit by
 * every job again at the same instant.
 */
export type BackoffOptions =
  | { type: 'exponential'; base?: Duration; factor?: number; max?: Duration; jitter?: number }
  | { type: 'fixed'; delay: Duration; jitter?: number }

/** A custom policy: milliseconds (or a duration) to wait after attempt `attempt` failed. Task-level only. */
export type BackoffFunction = (attempt: number, error: unknown) => Duration

export type Backoff = BackoffOptions | BackoffFunction

/** A policy with every duration resolved to milliseconds: the form stored with a job. */
export type ResolvedBackoff =
  | { type: 'exponential'; base: number; factor: number; max: number; jitter: number }
  | { type: 'fixed'; delay: number; jitter: number }

export const DEFAULT_BACKOFF: ResolvedBackoff = {
  type: 'exponential',
  base: 1000,
  factor: 2,
  max: 3_600_000,
  jitter: 0.5,
}

/** Validates a policy given by a user; `where` names it in errors (`"task 'x' backoff"`). */
export function resolveBackoff(value: unknown, where: string): ResolvedBackoff {
  if (typeof value !== 'object' || value === null) {
    throw new OffloadError('INVALID_OPTION', `${where} must be an object such as { type: 'exponential' }, got ${describe(value)}`, {
      option: 'backoff',
    })
  }
  const options = value as Record<string, unknown>
  if (options.type === 'exponential') {
    checkOptions(options, ['type', 'base', 'factor', 'max', 'jitter'], where)
    const base = options.base === undefined ? 1000 : parseDuration(options.base, `${where}.base`)
    const factor = options.factor === undefined ? 2 : checkNumber(options.factor, `${where}.factor`, { min: 1 })
    const max = options.max === undefined ? 3_600_000 : parseDuration(options.max, `${where}.max`)
    return { type: 'exponential', base, factor, max, jitter: jitterOf(options.jitter, where, 0.5) }
  }
  if (options.type === 'fixed') {
    checkOptions(options, ['type', 'delay', 'jitter'], where)
    const delay = parseDuration(options.delay, `${where}.delay`)
    return { type: 'fixed', delay, jitter: jitterOf(options.jitter, where, 0) }
  }
  throw new OffloadError('INVALID_OPTION', `${where}.type must be 'exponential' or 'fixed', got ${describe(options.type)}`, {
    option: 'backoff.type',
  })
}

function jitterOf(value: unknown, where: string, fallback: number): number {
  return value === undefined ? fallback : checkNumber(value, `${where}.jitter`, { min: 0, max: 1 })
}

/** Milliseconds to wait after `attempt` (1-based) failed. */
export function backoffDelay(
  policy: ResolvedBackoff | BackoffFunction,
  attempt: number,
  error: unknown,
  random: () => number = Math.random,
): number {
  if (typeof policy === 'function') return parseDuration(policy(attempt, error), 'backoff function result')
  const raw =
    policy.type === 'fixed'
      ? policy.delay
      : Math.min(policy.max, policy.base * Math.pow(policy.factor, Math.max(0, attempt - 1)))
  return Math.round(raw * (1 - policy.jitter * random()))
}
