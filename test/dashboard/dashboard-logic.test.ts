/**
 * The dashboard's own logic, without a browser: how it writes durations, reads its hash routes,
 * sums up a bulk action and folds a timeline. test/browser drives the pages themselves.
 */
import { describe, expect, test } from 'vitest'
import { summarizeBulk } from '../../src/dashboard/bulk'
import { formatAgo, formatCount, formatDuration, formatPercent, looksLikeJobId, niceMax } from '../../src/dashboard/format'
import { href, parseRoute } from '../../src/dashboard/router'
import { appendEvents, foldProgress } from '../../src/dashboard/timeline'
import type { JobEvent } from '../../src/dashboard/types'

describe('format', () => {
  test('durations in their two largest units', () => {
    expect(formatDuration(192)).toBe('3m 12s')
    expect(formatDuration(180)).toBe('3m')
    expect(formatDuration(3605)).toBe('1h')
    expect(formatDuration(7500)).toBe('2h 5m')
    expect(formatDuration(90_000)).toBe('1d 1h')
    expect(formatDuration(45.9)).toBe('45s')
    expect(formatDuration(0.4)).toBe('<1s')
    expect(formatDuration(0)).toBe('0s')
  })

  test('ago and until', () => {
    const now = Date.parse('2026-01-01T12:00:00Z')
    expect(formatAgo('2026-01-01T11:56:48Z', now)).toBe('3m 12s ago')
    expect(formatAgo('2026-01-01T12:00:04Z', now)).toBe('in 4s')
    expect(formatAgo(null, now)).toBe('—')
  })

  test('counts, percentages and chart scales', () => {
    expect([formatCount(950), formatCount(1480), formatCount(12_300), formatCount(123_400), formatCount(3_400_000)]).toEqual(['950', '1.5k', '12.3k', '123k', '3.4M'])
    expect([formatPercent(0), formatPercent(0.034), formatPercent(0.5), formatPercent(1)]).toEqual(['0%', '3.4%', '50%', '100%'])
    expect([niceMax(0, 5), niceMax(7, 5), niceMax(320, 5), niceMax(0.034, 0.05), niceMax(0.3, 0.05)]).toEqual([5, 10, 500, 0.05, 0.5])
  })

  test('a job id is a UUID; anything else is searched as an idempotency key', () => {
    expect(looksLikeJobId('01a20a29-fefb-7000-b464-aa8e018164cf')).toBe(true)
    expect(looksLikeJobId(' 01A20A29-FEFB-7000-B464-AA8E018164CF ')).toBe(true)
    expect(looksLikeJobId('welcome:ada')).toBe(false)
  })
})

describe('routes', () => {
  test('each page from its hash', () => {
    expect(parseRoute('')).toEqual({ page: 'overview' })
    expect(parseRoute('#/')).toEqual({ page: 'overview' })
    expect(parseRoute('#/jobs?state=failed&queue=images&task=')).toEqual({ page: 'jobs', filters: { state: 'failed', queue: 'images' } })
    expect(parseRoute('#/jobs/01a20a29-fefb-7000-b464-aa8e018164cf')).toEqual({ page: 'job', id: '01a20a29-fefb-7000-b464-aa8e018164cf' })
    expect(parseRoute('#/failures?queue=payments')).toEqual({ page: 'failures', filters: { queue: 'payments' } })
    expect(parseRoute('#/workers/')).toEqual({ page: 'workers' })
    expect(parseRoute('#/nope')).toEqual({ page: 'unknown', path: '/nope' })
  })

  test('links carry filters there and back, leaving out empty ones', () => {
    const filters = { state: 'failed', queue: 'a b&c', key: 'welcome:ada', task: '' }
    expect(parseRoute(href.jobs(filters))).toEqual({ page: 'jobs', filters: { state: 'failed', queue: 'a b&c', key: 'welcome:ada' } })
    expect(href.jobs()).toBe('#/jobs')
    expect(parseRoute(href.job('a/b'))).toEqual({ page: 'job', id: 'a/b' })
  })
})

test('a bulk action in one line: what was done, and what was skipped and why', () => {
  const skipped = (id: string) => ({ id, ok: false as const, error: { code: 'INVALID_STATE', message: `job ${id} is queued` } })
  expect(summarizeBulk('retry', [{ id: 'a', ok: true }, { id: 'b', ok: true }])).toBe('2 retried')
  expect(summarizeBulk('delete', [{ id: 'a', ok: true }, skipped('b')])).toBe('1 deleted, 1 skipped: b (job b is queued)')
  expect(summarizeBulk('cancel', ['a', 'b', 'c', 'd', 'e'].map(skipped))).toBe(
    '0 cancelled, 5 skipped: a (job a is queued); b (job b is queued); c (job c is queued); and 2 more',
  )
})

test('runs of progress updates fold into one timeline line, per attempt', () => {
  let seq = 0
  const event = (type: string, attempt: number, data?: JobEvent['data']): JobEvent => ({
    seq: ++seq,
    jobId: 'j',
    task: 't',
    queue: 'q',
    at: new Date(seq * 1000).toISOString(),
    type,
    state: 'running',
    attempt,
    ...(data ? { data } : {}),
  })
  const events = [
    event('started', 1),
    event('progress', 1, { progress: 10 }),
    event('progress', 1, { progress: 20 }),
    event('progress', 1, { progress: 30 }),
    event('log', 1, { message: 'half way' }),
    event('progress', 1, { progress: 60 }),
    event('progress', 2, { progress: 5 }),
  ]
  expect(appendEvents(events.slice(0, 3), events.slice(1, 5)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5])
  const rows = foldProgress(events)
  expect(rows.map((row) => [row.event.type, row.count, row.last?.data?.progress])).toEqual([
    ['started', 1, undefined],
    ['progress', 3, 30],
    ['log', 1, undefined],
    ['progress', 1, undefined],
    ['progress', 1, undefined],
  ])
})
