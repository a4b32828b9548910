import { createHmac } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { signWebhook, verifyWebhookSignature } from '../../src/index.js'

const SECRET = 'whsec_0123456789abcdef'
const OTHER = 'whsec_fedcba9876543210'
const BODY = '{"type":"job.completed","deliveryId":"d-1","job":{"id":"j-1","state":"completed"}}'
const T = 1_767_000_000
const AT_T = T * 1000

describe('signWebhook', () => {
  test('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex')
    expect(signWebhook({ secret: SECRET, body: BODY, timestamp: T })).toBe(`t=${T},v1=${expected}`)
  })

  test('signs the bytes: a string and its UTF-8 Buffer give the same signature', () => {
    const body = '{"name":"Zoë ✓"}'
    expect(signWebhook({ secret: SECRET, body: Buffer.from(body), timestamp: T })).toBe(signWebhook({ secret: SECRET, body, timestamp: T }))
  })

  test('defaults the timestamp to now, in whole seconds', () => {
    const before = Math.floor(Date.now() / 1000)
    const header = signWebhook({ secret: SECRET, body: BODY })
    const t = Number(/^t=(\d+),/.exec(header)![1])
    expect(t).toBeGreaterThanOrEqual(before)
    expect(t).toBeLessThanOrEqual(Math.floor(Date.now() / 1000))
    expect(verifyWebhookSignature({ secret: SECRET, body: BODY, header })).toBe(true)
  })

  test('with several secrets, one v1= value each', () => {
    const header = signWebhook({ secret: [SECRET, OTHER], body: BODY, timestamp: T })
    expect(header.split(',').map((part) => part.split('=')[0])).toEqual(['t', 'v1', 'v1'])
  })

  test('refuses what it cannot sign, with INVALID_OPTION', () => {
    const bad: [string, Parameters<typeof signWebhook>[0]][] = [
      ['an empty secret', { secret: '', body: BODY }],
      ['no secrets', { secret: [], body: BODY }],
      ['a parsed body', { secret: SECRET, body: JSON.parse(BODY) as string }],
      ['a fractional timestamp', { secret: SECRET, body: BODY, timestamp: 1.5 }],
    ]
    for (const [what, options] of bad) expect(() => signWebhook(options), what).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }))
  })
})

describe('verifyWebhookSignature', () => {
  const header = signWebhook({ secret: SECRET, body: BODY, timestamp: T })
  const verify = (overrides: Partial<Parameters<typeof verifyWebhookSignature>[0]>): boolean =>
    verifyWebhookSignature({ secret: SECRET, body: BODY, header, now: AT_T, ...overrides })

  test('accepts the body as signed, as a string or a Buffer', () => {
    expect(verify({})).toBe(true)
    expect(verify({ body: Buffer.from(BODY) })).toBe(true)
    expect(verify({ now: new Date(AT_T) })).toBe(true)
  })

  test('rejects a tampered body', () => {
    expect(verify({ body: BODY.replace('completed', 'failed') })).toBe(false)
    expect(verify({ body: BODY + ' ' })).toBe(false)
    expect(verify({ body: '' })).toBe(false)
  })

  test('rejects another secret', () => {
    expect(verify({ secret: OTHER })).toBe(false)
    expect(verify({ secret: SECRET + 'x' })).toBe(false)
  })

  test('rejects a timestamp moved away from its signature', () => {
    expect(verify({ header: header.replace(`t=${T}`, `t=${T + 1}`) })).toBe(false)
  })

  test('rejects a stale or future timestamp beyond the tolerance, accepts one within it', () => {
    expect(verify({ now: AT_T + 5 * 60_000 })).toBe(true)
    expect(verify({ now: AT_T + 5 * 60_000 + 1 })).toBe(false)
    expect(verify({ now: AT_T - 5 * 60_000 - 1 })).toBe(false)
    expect(verify({ now: AT_T + 3_600_000, tolerance: '2h' })).toBe(true)
    expect(verify({ now: AT_T + 1001, tolerance: 1000 })).toBe(false)
    // Real time, not the test's: a signature from years ago is refused by default.
    expect(verifyWebhookSignature({ secret: SECRET, body: BODY, header })).toBe(false)
  })

  test('rejects malformed headers', () => {
    const v1 = header.split(',')[1]!
    const malformed: unknown[] = [
      undefined,
      null,
      '',
      'garbage',
      v1,
      `t=${T}`,
      `t=${T},v1=`,
      `t=${T},v1=xyz`,
      `t=${T},${v1}0`,
      `t=${T},${v1.slice(0, -2)}`,
      `t=abc,${v1}`,
      `t=-${T},${v1}`,
      `t=${T}.5,${v1}`,
      `t=${T},t=${T},${v1}`,
      `t=${T},${v1},junk`,
      `${'x'.repeat(9000)},t=${T},${v1}`,
      [],
    ]
    for (const bad of malformed) expect(verify({ header: bad as string }), JSON.stringify(bad)).toBe(false)
  })

  test('tolerates spaces, upper-case hex, other schemes and a header split in two', () => {
    const [t, v1] = header.split(',') as [string, string]
    expect(verify({ header: ` ${t} , ${v1} ` })).toBe(true)
    expect(verify({ header: `${t},v1=${v1.slice(3).toUpperCase()}` })).toBe(true)
    expect(verify({ header: `${t},v0=abc,${v1},v2=future` })).toBe(true)
    expect(verify({ header: [t, v1] })).toBe(true)
  })

  test('rotated secrets: any matching v1 value, or any of several secrets, is accepted', () => {
    // The sender signs with the old and the new secret while receivers move over.
    const both = signWebhook({ secret: [OTHER, SECRET], body: BODY, timestamp: T })
    expect(verify({ header: both })).toBe(true)
    expect(verify({ header: both, secret: OTHER })).toBe(true)
    expect(verify({ header: both, secret: 'whsec_neither_of_them' })).toBe(false)
    // The receiver accepts the old and the new secret while the sender moves over.
    expect(verify({ secret: [OTHER, SECRET] })).toBe(true)
    expect(verify({ secret: [SECRET, OTHER] })).toBe(true)
    expect(verify({ secret: [OTHER, 'whsec_neither_of_them'] })).toBe(false)
  })

  test('throws for a parsed body or a missing secret: mistakes in the receiver, not bad requests', () => {
    expect(() => verify({ body: JSON.parse(BODY) as string })).toThrow(/raw request body/)
    expect(() => verify({ secret: '' })).toThrow(/secret/)
    expect(() => verify({ secret: undefined as unknown as string })).toThrow(/secret/)
    expect(() => verify({ tolerance: 'soon' })).toThrow(/tolerance/)
  })
})
