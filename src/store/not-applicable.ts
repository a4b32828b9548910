import { OffloadError } from '../errors.js'
import type { JobState } from '../job.js'

const RULES = {
  cancel: 'only unfinished jobs can be cancelled',
  retry: 'only failed or cancelled jobs can be retried',
  delete: 'only finished jobs can be deleted (cancel it first)',
} as const

/**
 * Why an operation on one job did not apply, worded the same whatever the store: `JOB_NOT_FOUND`
 * when `state` is undefined, else `INVALID_STATE` naming the rule.
 */
export function notApplicableError(id: string, action: keyof typeof RULES, state: JobState | undefined): OffloadError {
  if (state === undefined) return new OffloadError('JOB_NOT_FOUND', `no job with id ${id}`, { id })
  return new OffloadError('INVALID_STATE', `job ${id} is ${state}: ${RULES[action]}`, { id, state })
}
