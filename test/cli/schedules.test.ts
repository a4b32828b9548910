import { describe, expect, test } from 'vitest'
import { STORE_KINDS } from '../support/stores.js'
import { runCli, runJson, startCli } from './cli-process.js'

const TASKS = 'test/fixtures/cli-tasks.ts'


describe.each(STORE_KINDS)('%s store', (_name, newStore) => {
  test('schedules set, list (with the next run), pause, resume and delete', async () => {
    const store = newStore()
    const common = ['--store', store]
    const set = await runJson([
      'schedules', 'set', 'nightly', '--task', 'greet', '--cron', '0 0 3 * * *', '--tz', 'Europe/Paris', '--payload', '{"name":"night"}',
      '--catch-up', '1', '--tasks', TASKS, ...common,
    ])
    expect(set.schedule).toMatchObject({ name: 'nightly', task: 'greet', queue: 'greetings', cron: '0 0 3 * * *', timezone: 'Europe/Paris', catchUp: 1, source: 'api' })
    expect(Date.parse(set.schedule.nextRunAt)).toBeGreaterThan(Date.now())

    const listed = await runJson(['schedules', ...common])
    expect(listed.schedules).toEqual([set.schedule])
    const table = await runCli(['schedules', ...common])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^NAME +CRON +TIMEZONE +TASK +NEXT RUN +LAST RUN +SOURCE$/m)
    expect(table.stdout).toMatch(/^nightly +0 0 3 \* \* \* +Europe\/Paris +greet +\d{4}-\d\d-\d\d \d\d:\d\d:00 \(in \d+h \d+m\) +- +api$/m)

    expect((await runJson(['schedules', 'pause', 'nightly', ...common])).schedule.paused).toBe(true)
    expect((await runCli(['schedules', ...common])).stdout).toMatch(/^nightly .* paused /m)
    const resumed = await runCli(['schedules', 'resume', 'nightly', ...common])
    expect(resumed.stdout).toMatch(/^schedule 'nightly' is running again; next run \d{4}-/)

    const deleted = await runCli(['schedules', 'delete', 'nightly', ...common])
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted schedule 'nightly'; the jobs it enqueued stay\n" })
    const again = await runCli(['schedules', 'delete', 'nightly', ...common])
    expect(again).toMatchObject({ code: 2, stdout: '', stderr: "offload: no schedule named 'nightly'\n" })
    expect((await runCli(['schedules', ...common])).stdout).toMatch(/^no schedules yet/)
  })
})

test('bad schedule commands exit 2 with one readable line, and write nothing', async () => {
  const store = STORE_KINDS[0]![1]()
  const common = ['--store', store]
  const cases: [string[], string][] = [
    [['schedules', 'start', 'x'], "offload: unknown action 'start' for 'offload schedules': use list, set, delete, pause, resume\n"],
    [['schedules', 'set'], "offload: 'offload schedules set' needs a schedule name\n"],
    [['schedules', 'set', 'x', '--task', 'greet'], "offload: 'offload schedules set' needs --task and --cron\n"],
    [['schedules', 'delete', 'x', '--cron', '* * * * *'], "offload: --cron only applies to 'offload schedules set'\n"],
    [['schedules', 'set', 'x', '--task', 'greet', '--cron', '0 25 * * *', '--tasks', TASKS], 'offload: --cron "0 25 * * *" is not valid: Invalid value for hour: 25\n'],
    [['schedules', 'set', 'x', '--task', 'greet', '--cron', '0 3 * * *', '--tz', 'Paris', '--tasks', TASKS], /--tz must be an IANA time zone/],
    [['schedules', 'set', 'x', '--task', 'gret', '--cron', '0 3 * * *', '--tasks', TASKS], /unknown task 'gret', did you mean 'greet'\?/],
    [['schedules', 'set', 'x', '--task', 'greet', '--cron', '0 3 * * *', '--catch-up', '1001', '--tasks', TASKS], /--catch-up must be an integer from 0 to 1000, got 1001/],
  ] as never
  for (const [args, stderr] of cases) {
    const result = await runCli([...args, ...common])
    expect(result.code, args.join(' ')).toBe(2)
    expect(result.stdout, args.join(' ')).toBe('')
    if (typeof stderr === 'string') expect(result.stderr).toBe(stderr)
    else expect(result.stderr).toMatch(stderr)
  }
  expect((await runJson(['schedules', ...common])).schedules).toEqual([])
})

test("a task module's schedules export is written by offload worker, whose leader enqueues its ticks", async () => {
  const store = STORE_KINDS[0]![1]()
  const worker = startCli(['worker', '--tasks', 'test/fixtures/cli-schedules.ts', '--store', store])
  // The requirement is about time: an every-second schedule ticks within a few seconds.
  await worker.waitForStderr(/^tick: job \S+ from module$/m, 20_000)
  const listed = await runJson(['schedules', '--store', store])
  expect(listed.schedules).toEqual([expect.objectContaining({ name: 'every-second', task: 'tick', source: 'code', lastRunAt: expect.any(String) })])
  worker.signal('SIGTERM')
  expect(await worker.finished()).toMatchObject({ code: 0 })
})
