import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError } from '../api'
import { useTitle } from '../hooks'
import { showError } from '../notices'
import type { Session } from '../types'

/**
 * Sign in with an API token. The server checks it and answers with an HttpOnly session cookie:
 * the token is not kept by the page (not in storage, not in memory once sent).
 */
export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  useTitle('Sign in')
  const [token, setToken] = useState('')
  const [busy, setBusy] = useState(false)
  const [refused, setRefused] = useState<string | undefined>(undefined)
  const input = useRef<HTMLInputElement>(null)
  useEffect(() => input.current?.focus(), [])

  const submit = async (): Promise<void> => {
    const value = token.trim()
    if (value === '') {
      setRefused('Enter an API token.')
      input.current?.focus()
      return
    }
    setBusy(true)
    setRefused(undefined)
    try {
      const session = await api<Session>('POST', '/v1/session', { token: value }, { expect401: true })
      setToken('')
      if (session.authenticated) onSignedIn(session)
      else setRefused('The server did not accept the token.')
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        setRefused('That token is not valid. Check it and try again.')
        input.current?.select()
      } else {
        showError(error, 'Could not sign in')
      }
    } finally {
      setBusy(false)
    }
  }

  return (
    <main id="main" class="sign-in" tabIndex={-1}>
      <form
        class="sign-in-card"
        aria-labelledby="sign-in-heading"
        onSubmit={(event) => {
          event.preventDefault()
          void submit()
        }}
      >
        <h1 id="sign-in-heading">Sign in to Offload</h1>
        <p class="muted">This server needs an API token. Its scope decides what you can do here: read, write or admin.</p>
        <label for="signin-token" class="label">
          API token
        </label>
        <input
          ref={input}
          id="signin-token"
          type="password"
          data-testid="signin-token"
          autocomplete="current-password"
          spellcheck={false}
          value={token}
          aria-invalid={refused !== undefined}
          aria-describedby={refused ? 'signin-refused' : undefined}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
        />
        {refused && (
          <p id="signin-refused" class="field-error" role="alert">
            {refused}
          </p>
        )}
        <button type="submit" class="button button-primary" data-testid="signin-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  )
}
