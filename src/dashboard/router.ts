import { useEffect, useState } from 'preact/hooks'

/**
 * Hash routes: `#/`, `#/jobs?state=…`, `#/jobs/<id>`, `#/failures`, `#/workers`, `#/schedules`. The hash keeps
 * every view a link (bookmark it, open it in a tab, send it) while the server serves one page.
 */
export type Route =
  | { page: 'overview' }
  | { page: 'jobs'; filters: JobFilters }
  | { page: 'job'; id: string }
  | { page: 'failures'; filters: FailureFilters }
  | { page: 'workers' }
  | { page: 'schedules' }
  | { page: 'breakers' }
  | { page: 'unknown'; path: string }

export interface JobFilters {
  state?: string
  queue?: string
  task?: string
  key?: string
  fingerprint?: string
}

export interface FailureFilters {
  queue?: string
  task?: string
}

const JOB_FILTERS = ['state', 'queue', 'task', 'key', 'fingerprint'] as const
const FAILURE_FILTERS = ['queue', 'task'] as const

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, '')
  const mark = text.indexOf('?')
  const path = (mark === -1 ? text : text.slice(0, mark)).replace(/\/+$/, '')
  const params = new URLSearchParams(mark === -1 ? '' : text.slice(mark + 1))
  if (path === '' || path === '/') return { page: 'overview' }
  if (path === '/jobs') return { page: 'jobs', filters: pick(params, JOB_FILTERS) }
  const job = /^\/jobs\/([^/]+)$/.exec(path)
  if (job) return { page: 'job', id: safeDecode(job[1]!) }
  if (path === '/failures') return { page: 'failures', filters: pick(params, FAILURE_FILTERS) }
  if (path === '/workers') return { page: 'workers' }
  if (path === '/schedules') return { page: 'schedules' }
  if (path === '/breakers') return { page: 'breakers' }
  return { page: 'unknown', path }
}

function pick<K extends string>(params: URLSearchParams, names: readonly K[]): Partial<Record<K, string>> {
  const picked: Partial<Record<K, string>> = {}
  for (const name of names) {
    const value = params.get(name)?.trim()
    if (value) picked[name] = value
  }
  return picked
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function withQuery(path: string, values: object): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(values)) if (typeof value === 'string' && value !== '') params.set(name, value)
  const text = params.toString()
  return text === '' ? `#${path}` : `#${path}?${text}`
}

export const href = {
  overview: (): string => '#/',
  jobs: (filters: JobFilters = {}): string => withQuery('/jobs', filters),
  job: (id: string): string => `#/jobs/${encodeURIComponent(id)}`,
  failures: (filters: FailureFilters = {}): string => withQuery('/failures', filters),
  workers: (): string => '#/workers',
  schedules: (): string => '#/schedules',
  breakers: (): string => '#/breakers',
}

const listeners = new Set<() => void>()
let listening = false

/**
 * Goes to a hash. `replace` rewrites the current history entry instead (a filter being typed
 * should not leave one entry per keystroke); the browser fires no `hashchange` for that, so the
 * router is told directly.
 */
export function navigate(hash: string, options: { replace?: boolean } = {}): void {
  if (hash === location.hash) return
  if (!options.replace) {
    location.hash = hash
    return
  }
  history.replaceState(history.state, '', hash)
  for (const listener of listeners) listener()
}

/** The current route; re-renders when the hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    if (!listening) {
      listening = true
      window.addEventListener('hashchange', () => {
        for (const listener of listeners) listener()
      })
    }
    const update = (): void => setRoute(parseRoute(location.hash))
    listeners.add(update)
    update()
    return () => {
      listeners.delete(update)
    }
  }, [])
  return route
}
