import { describe, expect, test } from 'vitest'
import { errorFingerprint, normaliseErrorMessage, topStackFrame } from '../../src/fingerprint.js'

const stackAt = (frame: string, message = 'boom'): string => `Error: ${message}\n    at ${frame}\n    at next (file:///srv/app/src/runner.ts:1:1)`

describe('normaliseErrorMessage', () => {
  test.each([
    ['user 123 not found', 'user <n> not found'],
    ['order 9f8e7d6c-1a2b-4c3d-8e9f-0a1b2c3d4e5f is gone', 'order <uuid> is gone'],
    ['blob 3fa85f64a1b2c3d4e5f6 missing, object 0x7ffe12', 'blob <hex> missing, object <hex>'],
    ['expired at 2025-01-02T03:04:05.678Z (now 2025-01-02 03:04:06+02:00)', 'expired at <time> (now <time>)'],
    [`no row for 'alice' in "users" or \`admins\``, 'no row for <str> in <str> or <str>'],
    ['GET https://api.example.com/v1/users/42?x=1 failed: 503', 'GET <url> failed: <n>'],
    ['mail to jane.doe+tag@example.co.uk bounced', 'mail to <email> bounced'],
    ['took 1.5s, limit 1,000 ms', 'took <n>s, limit <n> ms'],
    ["can't read the user's record", "can't read the user's record"],
    ['  several\n  lines\tof   text  ', 'several lines of text'],
  ])('%j → %j', (message, expected) => {
    expect(normaliseErrorMessage(message)).toBe(expected)
  })

  test('caps the length, so a long variable tail does not split a group', () => {
    const long = normaliseErrorMessage('x'.repeat(1000))
    expect(long).toHaveLength(300)
    expect(normaliseErrorMessage('x'.repeat(300) + ' then anything')).toBe(long)
  })
})

describe('topStackFrame', () => {
  test('keeps the function and the project-relative file, drops line, column and file://', () => {
    expect(topStackFrame(stackAt('loadUser (file:///srv/releases/42/dist/jobs/users.js:17:9)'))).toBe('loadUser (dist/jobs/users.js)')
    expect(topStackFrame(stackAt('async Promise.all (index 0)'))).toBe('Promise.all (index 0)')
    expect(topStackFrame(stackAt('/home/me/project/src/jobs/send.ts:3:1'))).toBe('src/jobs/send.ts')
    expect(topStackFrame(stackAt('query (/app/node_modules/.pnpm/pg@8.1.0/node_modules/pg/lib/client.js:5:2)'))).toBe(
      'query (pg/lib/client.js)',
    )
    expect(topStackFrame(stackAt('readFile (node:internal/fs/promises:10:5)'))).toBe('readFile (node:internal/fs/promises)')
    expect(topStackFrame(stackAt('handler (C:\\work\\app\\src\\job.ts:8:3)'))).toBe('handler (src/job.ts)')
    expect(topStackFrame(stackAt('go (/opt/x/y/z.js:1:1)'))).toBe('go (y/z.js)')
  })

  test('finds the first frame after a message of several lines; none without frames', () => {
    expect(topStackFrame('Error: one\ntwo\n    at f (/p/src/a.ts:1:2)')).toBe('f (src/a.ts)')
    expect(topStackFrame('Error: no frames')).toBe('')
    expect(topStackFrame(undefined)).toBe('')
  })
})

describe('errorFingerprint', () => {
  const base = { name: 'NotFoundError', message: 'user 123 not found', stack: stackAt('loadUser (file:///srv/a/src/users.ts:10:5)', 'user 123 not found') }

  test('is 16 lowercase hex characters', () => {
    expect(errorFingerprint(base)).toMatch(/^[0-9a-f]{16}$/)
  })

  test('the same class, normalised message and frame give the same fingerprint', () => {
    const moved = {
      name: 'NotFoundError',
      message: 'user 456 not found',
      // Another release folder, other lines, other frames below the top one.
      stack: 'NotFoundError: user 456 not found\n    at loadUser (file:///srv/b/src/users.ts:99:1)\n    at other (x.js:1:1)',
    }
    expect(errorFingerprint(moved)).toBe(errorFingerprint(base))
  })

  test('another class, message or frame gives another fingerprint', () => {
    const fingerprint = errorFingerprint(base)
    expect(errorFingerprint({ ...base, name: 'TypeError' })).not.toBe(fingerprint)
    expect(errorFingerprint({ ...base, message: 'user 123 was deleted' })).not.toBe(fingerprint)
    expect(errorFingerprint({ ...base, stack: stackAt('saveUser (file:///srv/a/src/users.ts:10:5)') })).not.toBe(fingerprint)
    expect(errorFingerprint({ ...base, stack: stackAt('loadUser (file:///srv/a/src/accounts.ts:10:5)') })).not.toBe(fingerprint)
  })

  test('an error without a stack has a fingerprint, another than with one', () => {
    const { stack: _, ...bare } = base
    expect(errorFingerprint(bare)).toMatch(/^[0-9a-f]{16}$/)
    expect(errorFingerprint(bare)).not.toBe(errorFingerprint(base))
    expect(errorFingerprint({ ...bare, stack: null })).toBe(errorFingerprint(bare))
  })
})
