import { expect, test } from 'vitest'
import { createOffload } from '../../src/index.js'
import { tempDb } from '../support/temp.js'
import { runCli } from './cli-process.js'

const SETTINGS = { threshold: 0.5, minVolume: 2, windowMs: 60_000, cooldownMs: 3_600_000, probes: 1 }

/** A store with the breaker of `charge` open and one of `send` for group acme closed. */
async function storeWithBreakers(): Promise<string> {
  const url = `sqlite:${tempDb()}`
  const offload = createOffload({ store: url, logger: false })
  try {
    await offload.migrate()
    await offload.store.breakerRecord({
      outcomes: [{ task: 'charge', failed: true }, { task: 'charge', failed: true }, { task: 'send', group: 'acme', failed: false }],
      settings: new Map([['charge', SETTINGS], ['send', SETTINGS]]),
    })
  } finally {
    await offload.close()
  }
  return url
}

test('offload breakers lists the breakers (a table, or --json) and breakers reset closes one', async () => {
  const store = await storeWithBreakers()
  const listed = await runCli(['breakers', '--store', store])
  expect(listed, listed.stderr).toMatchObject({ code: 0, stderr: '' })
  expect(listed.stdout).toMatch(/^TASK\s+GROUP\s+STATE\s+FAILURES\s+ATTEMPTS\s+COOLDOWN ENDS\s+OPENED\n/)
  expect(listed.stdout).toMatch(/charge\s+-\s+open\s+100%\s+2\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+1\n/)
  expect(listed.stdout).toMatch(/send\s+acme\s+closed\s+0%\s+1\s+-\s+0\n/)

  const reset = await runCli(['breakers', 'reset', 'charge', '--store', store, '--json'])
  expect(reset, reset.stderr).toMatchObject({ code: 0, stderr: '' })
  expect(JSON.parse(reset.stdout)).toEqual({ task: 'charge', group: null, reset: 1 })
  const after = await runCli(['breakers', '--store', store, '--json'])
  const { breakers } = JSON.parse(after.stdout)
  expect(breakers.map((info: { task: string; state: string }) => [info.task, info.state])).toEqual([
    ['charge', 'closed'],
    ['send', 'closed'],
  ])
})

test('offload breakers: a wrong action, a missing task or a breaker never recorded is exit 2 and one line', async () => {
  const store = await storeWithBreakers()
  const cases: [args: string[], message: RegExp][] = [
    [['breakers', 'rest', 'charge'], /^offload: unknown action 'rest' for 'offload breakers'; usage: offload breakers \[reset <task>\]\n$/],
    [['breakers', 'reset'], /^offload: 'offload breakers reset' needs <task>/],
    [['breakers', 'reset', 'send', '--group', 'globex'], /^offload: no circuit breaker of task 'send', group 'globex' has recorded an outcome\n$/],
  ]
  for (const [args, message] of cases) {
    const result = await runCli([...args, '--store', store])
    expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' })
    expect(result.stderr).toMatch(message)
  }
})
