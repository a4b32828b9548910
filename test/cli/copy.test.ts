import { existsSync } from 'node:fs'
import { Readable, Writable } from 'node:stream'
import { expect, test } from 'vitest'
import { runCli as runCliInProcess } from '../../src/cli/cli.js'
import { uuidv7 } from '../../src/ids.js'
import { openStore } from '../../src/store/open-store.js'
import type { JobInsert, Store } from '../../src/store/store.js'
import { tempStoreUrl } from '../support/postgres.js'
import { tempDb } from '../support/temp.js'
import { lines, runCli } from './cli-process.js'

/** Opens the store at `url`, runs `fn` on it, and closes it. */
async function withStore<T>(url: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(url)
  try {
    await store.migrate()
    return await fn(store)
  } finally {
    await store.close()
  }
}

function job(overrides: Partial<JobInsert> = {}): JobInsert {
  return { id: uuidv7(), task: 'greet', queue: 'greetings', payload: '{"name":"ada"}', priority: 0, maxAttempts: 3, ...overrides }
}

/** 25 jobs: 20 queued, 2 completed, 1 running, 1 cancelled, 1 scheduled with a key. Returns the keyed one's id. */
async function fillSource(url: string): Promise<string> {
  return withStore(url, async (store) => {
    for (let i = 0; i < 4; i++) await store.jobInsertMany({ jobs: Array.from({ length: 6 }, () => job()) })
    const keyed = job({ key: 'welcome:ada', runAt: Date.now() + 3_600_000 })
    await store.jobInsertMany({ jobs: [keyed] })
    const claimed = await store.jobClaim({ queues: ['greetings'], workerId: 'w', limit: 3, leaseMs: 60_000 })
    await store.jobFinishMany({ finishes: claimed.slice(0, 2).map((running) => ({ id: running.id, lease: running.lease, outcome: 'completed', result: '"hi"' })) })
    const [queued] = await store.jobList({ states: ['queued'], limit: 1 })
    await store.jobCancel({ id: queued!.id })
    return keyed.id
  })
}

/** What a store holds, for comparing before and after. */
async function snapshot(url: string): Promise<{ jobs: number; events: number; running: number }> {
  return withStore(url, async (store) => {
    const counts = await store.jobCounts()
    return {
      jobs: counts.reduce((sum, count) => sum + count.count, 0),
      events: (await store.eventList({ limit: 10_000 })).length,
      running: counts.find((count) => count.state === 'running')?.count ?? 0,
    }
  })
}

/** How a store names itself in messages: its URL without parameters, and a schema other than the default. */
function described(url: string): string {
  const schema = /[?&]schema=(\w+)/.exec(url)?.[1]
  return schema === undefined ? url : `${url.replace(/\?.*$/, '')} (schema ${schema})`
}

test.each([
  ['SQLite to SQLite', () => `sqlite:${tempDb()}`],
  ['SQLite to PostgreSQL', () => tempStoreUrl('copy')],
])('%s: copies every job with its timeline, a page per batch; a second run copies nothing twice', async (_name, target) => {
  const [from, toUrl] = [`sqlite:${tempDb()}`, target()]
  const to = described(toUrl)
  await fillSource(from)
  const before = await snapshot(from)
  expect(before).toEqual({ jobs: 25, events: 31, running: 1 })

  const first = await runCli(['copy', '--from', from, '--to', toUrl, '--batch', '10'])
  expect(first.code, first.stderr).toBe(0)
  expect(first.stdout).toMatch(new RegExp(`^imported 25 jobs into ${escape(to)} in \\S+; 0 skipped \\(already there\\), 0 key conflicts\\n$`))
  // Progress lines appear only on a slow run (every few seconds when stderr is not a terminal).
  const [announce, ...progress] = lines(first.stderr)
  expect(announce).toBe(`copying ~25 jobs from ${from} to ${to} …`)
  for (const line of progress) expect(line).toMatch(/^copied \d+ of ~25 jobs$/)

  // The running job arrived queued, with a released event; everything else as it was.
  expect(await snapshot(toUrl)).toEqual({ jobs: 25, events: 32, running: 0 })
  const [sourceJobs, targetJobs] = await Promise.all([from, toUrl].map((url) => withStore(url, (store) => store.jobList({ limit: 100 }))))
  expect(targetJobs!.map((copied) => copied.id)).toEqual(sourceJobs!.map((original) => original.id))
  expect(targetJobs!.map((copied) => copied.state)).toEqual(sourceJobs!.map((original) => (original.state === 'running' ? 'queued' : original.state)))

  const again = await runCli(['copy', '--from', from, '--to', toUrl, '--batch', '10', '--json'])
  expect(again, again.stderr).toMatchObject({ code: 0, stderr: '' })
  expect(JSON.parse(again.stdout)).toEqual({ from, to, imported: 0, skipped: 25, keyConflicts: [], elapsedMs: expect.any(Number) })
  expect(await snapshot(toUrl)).toEqual({ jobs: 25, events: 32, running: 0 })
  expect(await snapshot(from)).toEqual(before)
})

test('a key a job of the target already holds is reported, and its job copied without it', async () => {
  const [from, to] = [`sqlite:${tempDb()}`, `sqlite:${tempDb()}`]
  const keyed = await fillSource(from)
  const holder = job({ key: 'welcome:ada' })
  await withStore(to, (store) => store.jobInsertMany({ jobs: [holder] }))

  const human = await runCli(['copy', '--from', from, '--to', to])
  expect(human.code, human.stderr).toBe(0)
  expect(lines(human.stdout)).toEqual([
    expect.stringMatching(/^imported 25 jobs into .*; 0 skipped \(already there\), 1 key conflict$/),
    `copied without holding their key, which a job of the target holds: ${keyed}`,
  ])
  await withStore(to, async (store) => {
    expect((await store.jobGet({ id: keyed }))?.state).toBe('scheduled')
    expect(await store.jobInsertMany({ jobs: [job({ key: 'welcome:ada' })] })).toEqual([{ id: holder.id, state: 'queued', existing: true }])
  })

  const to2 = `sqlite:${tempDb()}`
  await withStore(to2, (store) => store.jobInsertMany({ jobs: [job({ key: 'welcome:ada' })] }))
  const json = await runCli(['copy', '--from', from, '--to', to2, '--json'])
  expect(JSON.parse(json.stdout)).toMatchObject({ imported: 25, skipped: 0, keyConflicts: [keyed] })
})

test('bad input: one line on stderr, exit 2, nothing on stdout, nothing written to either store', async () => {
  const [from, to] = [`sqlite:${tempDb()}`, tempDb()]
  await fillSource(from)
  const before = await snapshot(from)
  const target = `sqlite:${to}`
  const cases: [string[], RegExp][] = [
    [['copy'], /'offload copy' needs --from <url> and --to <url>/],
    [['copy', '--to', target], /'offload copy' needs --from <url>; usage: offload copy --from <url> --to <url>\n$/],
    [['copy', '--from', from], /'offload copy' needs --to <url>;/],
    [['copy', '--from', from, '--to', from], /--from and --to name the same store/],
    [['copy', '--from', 'mysql://localhost/jobs', '--to', target], /cannot open store 'mysql:\/\/localhost\/jobs': unsupported scheme 'mysql:'/],
    [['copy', '--from', from, '--to', 'redis://u:secret@localhost'], /unsupported scheme 'redis:'/],
    [['copy', '--from', from, '--to', target, '--batch', '0'], /--batch must be an integer from 1 to 10000, got 0/],
    [['copy', '--from', from, '--to', target, '--batch', 'lots'], /--batch must be an integer, got 'lots'/],
    [['copy', '--from', from, '--to', target, '--store', target], /takes --from and --to, not --store/],
    [['copy', '--form', from, '--to', target], /unknown option '--form' for 'offload copy', did you mean '--from'\?/],
    [['copy', 'extra', '--from', from, '--to', target], /unexpected argument 'extra'/],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli([...args, '--json'])))
  cases.forEach(([args, message], index) => {
    const result = results[index]!
    const what = `offload ${args.join(' ')}`
    expect({ code: result.code, stdout: result.stdout, stderr: lines(result.stderr) }, what).toEqual({
      code: 2,
      stdout: '',
      stderr: [expect.stringMatching(/^offload: /)],
    })
    expect(result.stderr, what).toMatch(message)
    expect(result.stderr, what).not.toContain('secret')
  })
  expect(existsSync(to), 'the target was created').toBe(false)
  expect(await snapshot(from)).toEqual(before)
})

test('an empty source copies nothing and says so', async () => {
  const [from, to] = [`sqlite:${tempDb()}`, `sqlite:${tempDb()}`]
  const result = await runCli(['copy', '--from', from, '--to', to])
  expect(result.code).toBe(0)
  expect(lines(result.stderr)).toEqual([`offload: warning: ${from} holds no jobs; is --from the store you meant?`])
  expect(result.stdout).toMatch(/^imported 0 jobs into .*; 0 skipped/)
})

test('at a terminal, progress is one line redrawn in place and cleared before the summary', async () => {
  const [from, to] = [`sqlite:${tempDb()}`, `sqlite:${tempDb()}`]
  await fillSource(from)
  const stdout = new Capture()
  const stderr = new Capture(true)
  const io = { stdout, stderr, stdin: Readable.from([]), env: {}, cwd: process.cwd() }
  expect(await runCliInProcess(['copy', '--from', from, '--to', to, '--batch', '10'], io)).toBe(0)
  // The first page always draws; later ones may be skipped while the line is fresh.
  expect(stderr.text).toContain('\r[########............]  40% copied 10 of ~25 jobs\x1b[K')
  expect(stderr.text.endsWith('\r\x1b[K')).toBe(true)
  expect(stdout.text).toMatch(/^imported 25 jobs into /)
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** A stream that keeps what is written, posing as a terminal when asked. */
class Capture extends Writable {
  text = ''
  constructor(readonly isTTY = false) {
    super()
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    done()
  }
}
