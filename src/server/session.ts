import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Credential, Credentials } from './auth.js'

/** The dashboard's session cookie. */
export const SESSION_COOKIE = 'offload_session'
/** How long a dashboard sign-in lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000

/**
 * A dashboard session is a cookie that names a token and an expiry, signed with a key only the
 * token's holder could derive (its digest): nothing is kept on the server, so every server process
 * configured with the token accepts the session, and withdrawing the token ends its sessions.
 * The browser keeps it HttpOnly (no script reads it) and SameSite=Strict (no other site's page
 * sends it); the CSRF guard covers the rest.
 */
export function sessionCookie(credential: Credential, now: number, secure: boolean): string {
  const expires = Math.floor((now + SESSION_TTL_MS) / 1000)
  const name = Buffer.from(credential.name).toString('base64url')
  const value = `${name}.${expires}.${mac(credential, name, expires)}`
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${SESSION_TTL_MS / 1000}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

/** A `Set-Cookie` that makes the browser forget the session. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

/** The session cookie's value in a `Cookie` header, if any. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const pair = part.trim()
    if (pair.startsWith(`${SESSION_COOKIE}=`)) return pair.slice(SESSION_COOKIE.length + 1)
  }
  return undefined
}

/** The credential a session cookie was signed for, if its signature holds, it has not expired and the token is still accepted. */
export function verifySession(credentials: Credentials, value: string, now: number): Credential | undefined {
  const parts = value.split('.')
  if (parts.length !== 3) return undefined
  const [name, expiresText, signature] = parts as [string, string, string]
  const expires = Number(expiresText)
  if (!/^\d{1,12}$/.test(expiresText) || expires * 1000 <= now) return undefined
  const credential = credentials.byName(Buffer.from(name, 'base64url').toString())
  if (credential === undefined) return undefined
  const expected = Buffer.from(mac(credential, name, expires))
  const given = Buffer.from(signature)
  return given.length === expected.length && timingSafeEqual(given, expected) ? credential : undefined
}

function mac(credential: Credential, name: string, expires: number): string {
  return createHmac('sha256', credential.digest).update(`offload-session\n${name}\n${expires}`).digest('base64url')
}
