import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { isMissingEndpoint } from './api'
import { resolveError, showError } from './notices'

export interface Loaded<T> {
  data: T | undefined
  /** The last load's error, kept until a load succeeds. */
  error: unknown
  loading: boolean
  /** Loads again, keeping what is shown until the answer comes. */
  reload: () => void
}

interface LoaderOptions {
  /** What the banner says failed ("Could not load the queues"). */
  what: string
  /** Errors the page shows itself (a missing endpoint, an unknown job) instead of the banner. */
  inline?: (error: unknown) => boolean
}

/**
 * Loads data for a page: again whenever `deps` change or `reload()` is called. An answer that
 * arrives after a newer load started is dropped, so a slow answer never overwrites a fresh one.
 * The data stays on screen while reloading (no flash of "Loading…" on every live refresh).
 */
export function useLoader<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], options: LoaderOptions): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true })
  const latest = useRef(load)
  latest.current = load
  const optionsRef = useRef(options)
  optionsRef.current = options
  const generation = useRef(0)
  const controller = useRef<AbortController | undefined>(undefined)

  const run = useCallback(() => {
    const mine = ++generation.current
    controller.current?.abort()
    const abort = (controller.current = new AbortController())
    setState((previous) => ({ ...previous, loading: true }))
    latest
      .current(abort.signal)
      .then((data) => {
        if (mine !== generation.current) return
        setState({ data, error: undefined, loading: false })
        resolveError(optionsRef.current.what)
      })
      .catch((error: unknown) => {
        if (mine !== generation.current || abort.signal.aborted) return
        setState((previous) => ({ ...previous, error, loading: false }))
        const { inline = isMissingEndpoint, what } = optionsRef.current
        if (!inline(error)) showError(error, what)
      })
  }, [])

  useEffect(() => {
    // A change of what to load shows nothing of the old until the new arrives.
    setState({ data: undefined, error: undefined, loading: true })
    run()
    return () => {
      generation.current++
      controller.current?.abort()
    }
  }, deps)

  return { ...state, reload: run }
}

/**
 * A function that calls `fn` at most once per `ms`: at once if it has not run for that long,
 * otherwise once at the end of the interval, however many calls came in between.
 */
export function useThrottle(fn: () => void, ms: number): () => void {
  const latest = useRef(fn)
  latest.current = fn
  const last = useRef(0)
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  useEffect(() => () => clearTimeout(timer.current), [])
  return useCallback(() => {
    if (timer.current !== undefined) return
    const fire = (): void => {
      timer.current = undefined
      last.current = Date.now()
      latest.current()
    }
    const wait = last.current + ms - Date.now()
    if (wait <= 0) fire()
    else timer.current = setTimeout(fire, wait)
  }, [ms])
}

/** Calls `fn` every `ms` while the tab is visible, and at once when it becomes visible again. */
export function usePolling(fn: () => void, ms: number): void {
  const latest = useRef(fn)
  latest.current = fn
  useEffect(() => {
    const timer = setInterval(() => {
      if (!document.hidden) latest.current()
    }, ms)
    const onVisible = (): void => {
      if (!document.hidden) latest.current()
    }
    document.addEventListener('visibilitychange', onVisible)
    return () => {
      clearInterval(timer)
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [ms])
}

/** The time, updated every `ms`: for ages and "ago" that keep counting between loads. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(timer)
  }, [ms])
  return now
}

/** Sets the tab's title while the page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Offload`
  }, [title])
}
