import { createHmac, timingSafeEqual } from 'node:crypto'
import { describe, parseDuration, type Duration } from '../duration.js'
import { OffloadError } from '../errors.js'

/**
 * The `Offload-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The
 * timestamp is signed with the body, so a captured request cannot be replayed once it is older
 * than the receiver's tolerance, and a body cannot be moved under another request's signature.
 * Several `v1=` values may appear (one per secret the sender signs with), so secrets can be rotated.
 */
export const SIGNATURE_HEADER = 'Offload-Signature'

export interface SignWebhookOptions {
  /** The signing key, or several: one `v1=` value each, for a sender moving to a new secret. */
  secret: string | readonly string[]
  /** The exact bytes sent: a string (as UTF-8) or a Buffer. */
  body: string | Uint8Array
  /** Unix seconds. @defaultValue now */
  timestamp?: number
}

export interface VerifyWebhookSignatureOptions {
  /**
   * The shared key, or several: the signature is accepted when it matches any of them, so a
   * receiver can accept the old and the new secret while the sender moves from one to the other.
   */
  secret: string | readonly string[]
  /**
   * The raw request body exactly as received, a string or a Buffer — not the parsed JSON: parsing
   * and serialising again changes the bytes (spacing, key order, number forms) and the signature
   * no longer matches.
   */
  body: string | Uint8Array
  /** The `Offload-Signature` header as received (Node's `req.headers['offload-signature']`). */
  header: string | readonly string[] | null | undefined
  /** How far the signed timestamp may be from `now`, either way. @defaultValue `'5m'` */
  tolerance?: Duration
  /** The receiver's clock: epoch milliseconds or a Date. @defaultValue `Date.now()` */
  now?: number | Date
}

/** Signs a webhook body; returns the `Offload-Signature` header value. */
export function signWebhook(options: SignWebhookOptions): string {
  const secrets = checkSecrets(options.secret, 'signWebhook()')
  checkBody(options.body, 'signWebhook()')
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new OffloadError('INVALID_OPTION', `signWebhook() timestamp must be whole Unix seconds, got ${describe(timestamp)}`, {
      option: 'timestamp',
    })
  }
  return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${digest(secret, timestamp, options.body).toString('hex')}`)].join(',')
}

/**
 * True when `header` carries a `v1=` signature of `body` by one of the secrets, made within
 * `tolerance` of now. False for anything else — a missing or malformed header, a stale or future
 * timestamp, a tampered body, an unknown secret — without saying which, so a prober learns nothing.
 * Signatures are compared in constant time.
 */
export function verifyWebhookSignature(options: VerifyWebhookSignatureOptions): boolean {
  const secrets = checkSecrets(options.secret, 'verifyWebhookSignature()')
  checkBody(options.body, 'verifyWebhookSignature()')
  const toleranceMs = parseDuration(options.tolerance ?? '5m', 'tolerance')
  const now = options.now === undefined ? Date.now() : options.now instanceof Date ? options.now.getTime() : options.now
  const parsed = parseHeader(options.header)
  if (parsed === undefined) return false
  if (Math.abs(now - parsed.timestamp * 1000) > toleranceMs) return false
  let matched = false
  // Every pair is compared, matched or not: how long this takes says nothing about which failed.
  for (const secret of secrets) {
    const expected = digest(secret, parsed.timestamp, options.body)
    for (const candidate of parsed.signatures) matched = timingSafeEqual(expected, candidate) || matched
  }
  return matched
}

function digest(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest()
}

const TIMESTAMP = /^\d{1,15}$/
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/

/** The timestamp and the well-formed `v1` signatures; undefined when the header is unusable. */
function parseHeader(header: VerifyWebhookSignatureOptions['header']): { timestamp: number; signatures: Buffer[] } | undefined {
  // Node joins repeated headers into an array (or with ', '); take the parts of all of them.
  const text = typeof header === 'string' ? header : Array.isArray(header) ? header.join(',') : undefined
  if (text === undefined || text.length > 8192) return undefined
  let timestamp: number | undefined
  const signatures: Buffer[] = []
  for (const part of text.split(',')) {
    const equals = part.indexOf('=')
    if (equals < 0) return undefined
    const key = part.slice(0, equals).trim()
    const value = part.slice(equals + 1).trim()
    if (key === 't') {
      if (timestamp !== undefined || !TIMESTAMP.test(value)) return undefined
      timestamp = Number(value)
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) return undefined
      signatures.push(Buffer.from(value, 'hex'))
    }
    // Other schemes (a future v2) are skipped, so a sender can add one before receivers know it.
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures }
}

function checkSecrets(secret: unknown, where: string): readonly string[] {
  const secrets = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? (secret as unknown[]) : []
  if (secrets.length === 0 || secrets.some((one) => typeof one !== 'string' || one.length === 0)) {
    throw new OffloadError('INVALID_OPTION', `${where} secret must be a non-empty string or an array of them, got ${describe(secret)}`, {
      option: 'secret',
    })
  }
  return secrets as string[]
}

function checkBody(body: unknown, where: string): void {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new OffloadError(
      'INVALID_OPTION',
      `${where} body must be the raw request body, a string or a Buffer, got ${describe(body)}: ` +
        'a body parsed as JSON and serialised again no longer has the bytes that were signed',
      { option: 'body' },
    )
  }
}
