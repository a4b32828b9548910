import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import { api, ApiError, isMissingEndpoint } from './api'
import type { Scope, Session } from './types'

const RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 }

/** Whether the session's scope includes `needed`: read < write < admin. */
export function allows(session: Session | undefined, needed: Scope): boolean {
  const scope = session?.scope
  return scope !== null && scope !== undefined && RANK[scope] >= RANK[needed]
}

export const SessionContext = createContext<Session | undefined>(undefined)

/** May the signed-in user do what `needed` allows? Controls the user may not use are not drawn at all. */
export function useAllows(needed: Scope): boolean {
  return allows(useContext(SessionContext), needed)
}

/** Signed out, tokens needed: what a 401 means. */
export const SIGNED_OUT: Session = { authenticated: false, tokensRequired: true, scope: null, name: null }

/**
 * The session as the server sees it. A server without the session endpoint (older than the
 * dashboard) has no cookie sign-in: it is either open (no tokens: every call is allowed) or every
 * call will answer 401, which shows the sign-in form anyway.
 */
export async function loadSession(): Promise<Session> {
  try {
    return await api<Session>('GET', '/v1/session', undefined, { expect401: true })
  } catch (error) {
    if (isMissingEndpoint(error)) return { authenticated: true, tokensRequired: false, scope: 'admin', name: null }
    if (error instanceof ApiError && error.status === 401) return SIGNED_OUT
    throw error
  }
}
