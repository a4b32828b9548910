import { api, ApiError, isMissingEndpoint } from './api'
import type { BulkAction, BulkResult } from './types'

const DONE: Record<BulkAction, string> = { retry: 'retried', cancel: 'cancelled', delete: 'deleted' }

/** What a bulk action did, in one line: "12 retried, 1 skipped: <id> (job is queued)". */
export function summarizeBulk(action: BulkAction, results: BulkResult[], shown = 3): string {
  const ok = results.filter((result) => result.ok).length
  const skipped = results.filter((result): result is Extract<BulkResult, { ok: false }> => !result.ok)
  let text = `${ok} ${DONE[action]}`
  if (skipped.length === 0) return text
  const listed = skipped.slice(0, shown).map((result) => `${result.id} (${result.error.message})`)
  text += `, ${skipped.length} skipped: ${listed.join('; ')}`
  if (skipped.length > shown) text += `; and ${skipped.length - shown} more`
  return text
}

/**
 * Retries, cancels or deletes jobs in one call (`POST /v1/jobs/actions`). A server without that
 * endpoint gets one call per job instead, a few at a time, with the same kind of results.
 */
export async function runBulk(action: BulkAction, ids: string[]): Promise<BulkResult[]> {
  try {
    const answer = await api<{ results: BulkResult[] }>('POST', '/v1/jobs/actions', { action, ids })
    return answer.results
  } catch (error) {
    if (!isMissingEndpoint(error)) throw error
  }
  const results: BulkResult[] = new Array(ids.length)
  let next = 0
  const one = async (): Promise<void> => {
    while (next < ids.length) {
      const index = next++
      const id = ids[index]!
      const path = `/v1/jobs/${encodeURIComponent(id)}`
      try {
        if (action === 'delete') await api('DELETE', path)
        else await api('POST', `${path}/${action}`)
        results[index] = { id, ok: true }
      } catch (error) {
        if (!(error instanceof ApiError) || error.status === 401 || error.status >= 500 || error.status === 0) throw error
        results[index] = { id, ok: false, error: { code: error.code, message: error.message } }
      }
    }
  }
  await Promise.all([one(), one(), one(), one()])
  return results
}
