import type { BreakerInfo } from '../../store/store.js'
import { withOffload, type Command } from '../command.js'
import { UsageError } from '../exit.js'
import { dateTime, table } from '../format.js'
import type { Output } from '../output.js'

export const breakersCommand: Command = {
  name: 'breakers',
  usage: 'breakers [reset <task>]',
  summary: 'list circuit breakers, or close one by hand',
  description:
    "Lists every task's circuit breakers as the store holds them: state, failure rate over the\n" +
    'rolling window, attempts in it, when an open one lets probes through. `breakers reset <task>`\n' +
    "closes the task's breakers (or one group's, with --group) and clears their windows; workers\n" +
    'claim the jobs it held back within a second. Fails (exit 2) when no breaker of the task has\n' +
    'recorded an outcome. docs/circuit-breakers.md.',
  options: {
    group: { type: 'string', value: '<group>', description: "with reset: only this group's breaker" },
  },
  positionals: { min: 0, max: 2 },
  examples: ['offload breakers', 'offload breakers --json', 'offload breakers reset payments.charge', 'offload breakers reset webhooks.send --group acme'],
  async run({ args, out, storeUrl }) {
    const [action, task] = args.positionals
    const group = args.string('group')
    if (action === undefined) {
      if (group !== undefined) throw new UsageError("--group goes with 'offload breakers reset <task>'")
      return withOffload(storeUrl, {}, async (offload) => {
        const breakers = await offload.listBreakers()
        if (out.json) out.data({ breakers })
        else printBreakers(out, breakers)
        return 0
      })
    }
    if (action !== 'reset') throw new UsageError(`unknown action '${action}' for 'offload breakers'; usage: offload breakers [reset <task>]`)
    if (task === undefined) throw new UsageError("'offload breakers reset' needs <task>; usage: offload breakers reset <task> [--group <group>]")
    return withOffload(storeUrl, {}, async (offload) => {
      const { reset } = await offload.resetBreaker(task, group === undefined ? {} : { group })
      if (out.json) out.data({ task, group: group ?? null, reset })
      else out.line(`closed ${reset} circuit breaker${reset === 1 ? '' : 's'} of task '${task}'${group === undefined ? '' : `, group '${group}'`}`)
      return 0
    })
  },
}

function printBreakers(out: Output, breakers: readonly BreakerInfo[]): void {
  if (breakers.length === 0) {
    out.line('no circuit breakers yet: a task gets one with its breaker option')
    return
  }
  const paint = (state: BreakerInfo['state']): string =>
    state === 'open' ? out.red(state) : state === 'half_open' ? out.yellow('half-open') : out.green(state)
  const rows = breakers.map((info) => [
    info.task,
    info.group ?? '-',
    paint(info.state),
    `${Math.round(info.failureRate * 100)}%`,
    String(Math.round(info.volume)),
    info.cooldownUntil === undefined ? '-' : dateTime(info.cooldownUntil),
    String(info.transitions.open),
  ])
  for (const line of table(['TASK', 'GROUP', 'STATE', 'FAILURES', 'ATTEMPTS', 'COOLDOWN ENDS', 'OPENED'], rows, out)) out.line(line)
}
