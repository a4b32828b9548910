import { ApiError } from './api'
import { createStore } from './store'

/**
 * The banner's messages: an error (role="alert") and a note of what just happened (role="status").
 * Module state rather than context: any code path (a load, a click, the session) may report.
 */
export interface ShownError {
  title: string
  message: string
  code: string | undefined
  details: Record<string, unknown> | undefined
}

export interface Notices {
  error: ShownError | undefined
  note: string | undefined
}

const notices = createStore<Notices>({ error: undefined, note: undefined })
/** Errors dismissed lately: a refresh that keeps failing the same way should not bring the banner back at once. */
const dismissed = new Map<string, number>()
const QUIET_AFTER_DISMISS_MS = 60_000

function describe(error: unknown, title: string): ShownError {
  if (error instanceof ApiError) {
    const details = Object.keys(error.details).length > 0 ? error.details : undefined
    return { title, message: error.message, code: error.code, details }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { title, message, code: undefined, details: undefined }
}

/** Shows an error in the banner. `title` says what was being done ("Could not retry the job"). */
export function showError(error: unknown, title = 'Something went wrong'): void {
  if (error instanceof DOMException && error.name === 'AbortError') return
  const shown = describe(error, title)
  const key = `${shown.code}:${shown.message}`
  const quietUntil = dismissed.get(key)
  if (quietUntil !== undefined && quietUntil > Date.now()) return
  const same = notices.get().error
  if (same && same.message === shown.message && same.code === shown.code && same.title === shown.title) return
  notices.set({ ...notices.get(), error: shown })
}

export function dismissError(): void {
  const error = notices.get().error
  if (error) dismissed.set(`${error.code}:${error.message}`, Date.now() + QUIET_AFTER_DISMISS_MS)
  notices.set({ ...notices.get(), error: undefined })
}

/** Takes the error down if it is the one `title` reported: what failed to load has loaded since. */
export function resolveError(title: string): void {
  if (notices.get().error?.title === title) notices.set({ ...notices.get(), error: undefined })
}

/** A note shown just before going to another page survives that one change of page. */
let carryNote = false

/**
 * Says what an action did ("12 retried"), until dismissed, replaced or the page changes. With
 * `carry`, it survives the next change of page (said just before going elsewhere: "Job deleted").
 */
export function showNote(note: string, options: { carry?: boolean } = {}): void {
  carryNote = options.carry ?? false
  notices.set({ ...notices.get(), note })
}

export function dismissNote(): void {
  notices.set({ ...notices.get(), note: undefined })
}

/** Clears both, as when the page changes: old news on a new page confuses. */
export function clearNotices(): void {
  const note = carryNote ? notices.get().note : undefined
  carryNote = false
  if (notices.get().error !== undefined || notices.get().note !== note) notices.set({ error: undefined, note })
}

export const useNotices = notices.use
