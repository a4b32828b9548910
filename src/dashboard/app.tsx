import { Component, type ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, onUnauthorized } from './api'
import { Banner } from './components/banner'
import { useLiveEvents, useLiveStatus } from './live'
import { clearNotices, showError, showNote } from './notices'
import { FailuresPage } from './pages/failures-page'
import { JobPage } from './pages/job-page'
import { JobsPage } from './pages/jobs-page'
import { OverviewPage } from './pages/overview-page'
import { SignInPage } from './pages/sign-in-page'
import { SchedulesPage } from './pages/schedules-page'
import { WorkersPage } from './pages/workers-page'
import { BreakersPage } from './pages/breakers-page'
import { href, useRoute, type Route } from './router'
import { loadSession, SessionContext, SIGNED_OUT } from './session'
import type { Session } from './types'

export function App() {
  const [session, setSession] = useState<Session | undefined>(undefined)
  const [unreachable, setUnreachable] = useState(false)
  const load = (): void => {
    setUnreachable(false)
    loadSession().then(setSession, (error: unknown) => {
      setUnreachable(true)
      showError(error, 'Could not reach the Offload server')
    })
  }
  useEffect(() => {
    onUnauthorized(() => {
      setSession((current) => {
        if (current?.authenticated) showNote('Your session ended. Sign in again to go on.')
        return SIGNED_OUT
      })
    })
    load()
    return () => onUnauthorized(undefined)
  }, [])

  if (session === undefined) {
    return (
      <>
        <Banner />
        <main id="main" class="starting" tabIndex={-1}>
          {unreachable ? (
            <>
              <h1>Offload</h1>
              <p>The dashboard could not reach the server.</p>
              <button type="button" class="button button-primary" onClick={load}>
                Try again
              </button>
            </>
          ) : (
            <p class="muted">Loading…</p>
          )}
        </main>
      </>
    )
  }
  if (!session.authenticated) {
    return (
      <>
        <Banner />
        <SignInPage
          onSignedIn={(next) => {
            clearNotices()
            setSession(next)
          }}
        />
      </>
    )
  }
  const signOut = async (): Promise<void> => {
    try {
      await api('DELETE', '/v1/session')
      clearNotices()
      setSession(SIGNED_OUT)
    } catch (error) {
      showError(error, 'Could not sign out')
    }
  }
  return (
    <SessionContext.Provider value={session}>
      <Layout session={session} onSignOut={() => void signOut()} />
    </SessionContext.Provider>
  )
}

const NAV = [
  { page: 'overview', label: 'Overview', to: href.overview() },
  { page: 'jobs', label: 'Jobs', to: href.jobs() },
  { page: 'failures', label: 'Failures', to: href.failures() },
  { page: 'workers', label: 'Workers', to: href.workers() },
  { page: 'schedules', label: 'Schedules', to: href.schedules() },
  { page: 'breakers', label: 'Breakers', to: href.breakers() },
] as const

function Layout({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute()
  const section = route.page === 'job' ? 'jobs' : route.page
  // A new page (not a new filter on the same one): old notices go, and focus moves to its heading
  // so a screen reader announces where the link led.
  const pageKey = route.page === 'job' ? `job:${route.id}` : route.page
  const first = useRef(true)
  useEffect(() => {
    if (first.current) {
      first.current = false
      return
    }
    clearNotices()
    window.scrollTo(0, 0)
    document.querySelector<HTMLElement>('main h1')?.focus()
  }, [pageKey])
  // Keeps the shared event stream open while signed in, so the indicator is true on every page.
  useLiveEvents(() => undefined)

  return (
    <>
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          // The hash is the router's: focus the content instead of navigating to "#main".
          event.preventDefault()
          document.getElementById('main')?.focus()
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href.overview()}>
          Offload
        </a>
        <nav class="nav" aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.page}>
                <a href={item.to} data-testid={`nav-${item.page}`} aria-current={section === item.page ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <LiveIndicator />
          {session.tokensRequired && (
            <>
              <span class="who-name" title={`Signed in${session.name ? ` as ${session.name}` : ''} with ${session.scope} scope`}>
                {session.name ?? 'signed in'} <span class="badge badge-scope">{session.scope}</span>
              </span>
              <button type="button" class="button button-small button-quiet" data-testid="signout" onClick={onSignOut}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      <Banner />
      <main id="main" tabIndex={-1}>
        <PageBoundary key={pageKey}>
          <Page route={route} />
        </PageBoundary>
      </main>
    </>
  )
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <OverviewPage />
    case 'jobs':
      return <JobsPage filters={route.filters} />
    case 'job':
      return <JobPage id={route.id} />
    case 'failures':
      return <FailuresPage filters={route.filters} />
    case 'workers':
      return <WorkersPage />
    case 'schedules':
      return <SchedulesPage />
    case 'breakers':
      return <BreakersPage />
    case 'unknown':
      return (
        <>
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            The dashboard has no page <code>{route.path}</code>. <a href={href.overview()}>Go to the overview</a>
          </p>
        </>
      )
  }
}

function LiveIndicator() {
  const status = useLiveStatus()
  const text = { live: 'Live', connecting: 'Connecting…', offline: 'Offline' }[status]
  const title = {
    live: 'Receiving live events from the server',
    connecting: 'Connecting to the live event stream',
    offline: 'The live event stream is down; the dashboard reconnects by itself',
  }[status]
  return (
    <span class={`live live-${status}`} title={title}>
      <span class="live-dot" aria-hidden="true" />
      {text}
    </span>
  )
}

/** A page that throws while rendering shows what broke instead of a blank screen; the rest keeps working. */
class PageBoundary extends Component<{ children: ComponentChildren }, { error: Error | undefined }> {
  override state = { error: undefined as Error | undefined }

  static override getDerivedStateFromError(error: unknown): { error: Error } {
    return { error: error instanceof Error ? error : new Error(String(error)) }
  }

  override render() {
    const { error } = this.state
    if (error === undefined) return this.props.children
    return (
      <div role="alert" class="page-error">
        <h1 tabIndex={-1}>This page failed to show</h1>
        <p>
          <code>{error.message}</code>
        </p>
        <p>
          <button type="button" class="button" onClick={() => this.setState({ error: undefined })}>
            Try again
          </button>{' '}
          <a href={href.overview()}>Go to the overview</a>
        </p>
      </div>
    )
  }
}
