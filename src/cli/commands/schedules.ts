import { OffloadError } from '../../errors.js'
import type { Json } from '../../job.js'
import type { ScheduleOptions } from '../../schedules/schedule-options.js'
import type { ScheduleInfo } from '../../store/store.js'
import { parseJson } from '../args.js'
import { TASKS_OPTION, withOffload, type Command, type CommandContext } from '../command.js'
import { UsageError } from '../exit.js'
import { dateTime, table } from '../format.js'
import { loadTaskModules, taskPaths } from '../task-modules.js'

const ACTIONS = ['list', 'set', 'delete', 'pause', 'resume'] as const
type Action = (typeof ACTIONS)[number]
/** The options only `set` takes; the other actions refuse them rather than ignore them. */
const SET_OPTIONS = ['task', 'cron', 'tz', 'payload', 'queue', 'priority', 'attempts', 'timeout', 'metadata', 'catch-up', 'paused', 'tasks'] as const

export const schedulesCommand: Command = {
  name: 'schedules',
  usage: 'schedules [list|set|delete|pause|resume] [name]',
  summary: 'list cron schedules with their next runs; create, change, pause or delete one',
  description:
    'Without an action, lists every cron schedule with its expression, time zone, next and last\n' +
    "run. 'set <name>' creates or replaces a schedule: --task (defined in the --tasks modules) and\n" +
    "--cron are required; changing the expression or time zone moves its next run. 'delete',\n" +
    "'pause' and 'resume' act on one schedule. A schedule declared in code is written again from\n" +
    'code when its workers start. The scheduler runs in workers (the maintenance leader).',
  options: {
    ...TASKS_OPTION,
    task: { type: 'string', value: '<name>', description: 'set: the task each tick enqueues a job of' },
    cron: { type: 'string', value: '<expr>', description: "set: 5 fields ('0 3 * * *') or 6 with seconds first ('*/10 * * * * *')" },
    tz: { type: 'string', value: '<zone>', description: 'set: the IANA time zone the expression is read in', defaultText: 'UTC' },
    payload: { type: 'string', value: '<json>', description: 'set: the payload of every job', defaultText: 'null' },
    queue: { type: 'string', value: '<name>', description: "set: the jobs' queue", defaultText: "the task's" },
    priority: { type: 'string', value: '<int>', description: "set: the jobs' priority", defaultText: "the task's" },
    attempts: { type: 'string', value: '<int>', description: "set: the jobs' attempts", defaultText: "the task's" },
    timeout: { type: 'string', value: '<duration>', description: "set: the jobs' timeout", defaultText: "the task's" },
    metadata: { type: 'string', value: '<json>', description: 'set: a JSON object stored with every job' },
    'catch-up': { type: 'string', value: '<n>', description: 'set: after downtime, enqueue up to n missed ticks (0 skips them)', defaultText: '0' },
    paused: { type: 'boolean', description: 'set: create it paused' },
  },
  positionals: { min: 0, max: 2 },
  flags: { cron: '--cron', timezone: '--tz', catchUp: '--catch-up', priority: '--priority', attempts: '--attempts', timeout: '--timeout' },
  examples: [
    'offload schedules',
    `offload schedules set nightly-report --task report.build --cron '0 0 3 * * *' --tz Europe/Paris --payload '{"kind":"sales"}' --tasks app/tasks.ts`,
    'offload schedules pause nightly-report',
    'offload schedules delete nightly-report',
    'offload schedules --json',
  ],
  async run(ctx) {
    const [actionText = 'list', name] = ctx.args.positionals as [string | undefined, string | undefined]
    if (!(ACTIONS as readonly string[]).includes(actionText)) {
      throw new UsageError(`unknown action '${actionText}' for 'offload schedules': use ${ACTIONS.join(', ')}`)
    }
    const action = actionText as Action
    if (action === 'list' && name !== undefined) throw new UsageError(`'offload schedules list' takes no name; usage: offload ${schedulesCommand.usage}`)
    if (action !== 'list' && name === undefined) throw new UsageError(`'offload schedules ${action}' needs a schedule name`)
    if (action !== 'set') {
      const given = SET_OPTIONS.find((option) => ctx.args.has(option))
      if (given !== undefined) throw new UsageError(`--${given} only applies to 'offload schedules set'`)
    }
    if (action === 'list') return list(ctx)
    if (action === 'set') return set(ctx, name!)
    return withOffload(ctx.storeUrl, {}, async (offload) => {
      if (action === 'delete') {
        if (!(await offload.deleteSchedule(name!))) throw new OffloadError('SCHEDULE_NOT_FOUND', `no schedule named '${name}'`, { schedule: name })
        if (ctx.out.json) ctx.out.data({ name, deleted: true })
        else ctx.out.line(`deleted schedule '${name}'; the jobs it enqueued stay`)
        return 0
      }
      const schedule = await (action === 'pause' ? offload.pauseSchedule(name!) : offload.resumeSchedule(name!))
      if (ctx.out.json) ctx.out.data({ schedule })
      else ctx.out.line(`schedule '${name}' is ${schedule.paused ? 'paused' : `running again; next run ${nextText(schedule)}`}`)
      return 0
    })
  },
}

function list({ out, storeUrl }: CommandContext): Promise<number> {
  return withOffload(storeUrl, {}, async (offload) => {
    const schedules = await offload.listSchedules()
    if (out.json) {
      out.data({ schedules })
      return 0
    }
    if (schedules.length === 0) {
      out.line("no schedules yet: declare them in code, or 'offload schedules set <name> --task … --cron …'")
      return 0
    }
    const now = await offload.store.now()
    const rows = schedules.map((schedule) => [
      schedule.name,
      schedule.cron,
      schedule.timezone,
      schedule.task,
      schedule.paused ? out.yellow('paused') : nextText(schedule, now),
      schedule.lastRunAt === undefined ? '-' : dateTime(schedule.lastRunAt),
      schedule.source,
    ])
    for (const line of table(['NAME', 'CRON', 'TIMEZONE', 'TASK', 'NEXT RUN', 'LAST RUN', 'SOURCE'], rows, out)) out.line(line)
    out.line()
    out.line(`${schedules.length} schedule${schedules.length === 1 ? '' : 's'}`)
    return 0
  })
}

async function set({ args, out, io, storeUrl }: CommandContext, name: string): Promise<number> {
  const task = args.string('task')
  const cron = args.string('cron')
  if (task === undefined || cron === undefined) throw new UsageError(`'offload schedules set' needs --task and --cron`)
  const options: ScheduleOptions = { task, cron }
  const timezone = args.string('tz')
  if (timezone !== undefined) options.timezone = timezone
  const payload = args.string('payload')
  if (payload !== undefined) options.payload = parseJson(payload, 'the payload')
  const queue = args.string('queue')
  if (queue !== undefined) options.queue = queue
  const priority = args.integer('priority')
  if (priority !== undefined) options.priority = priority
  const attempts = args.integer('attempts')
  if (attempts !== undefined) options.attempts = attempts
  const timeout = args.duration('timeout')
  if (timeout !== undefined) options.timeout = timeout
  const metadata = args.json('metadata')
  if (metadata !== undefined) options.metadata = metadata as Record<string, Json>
  const catchUp = args.integer('catch-up')
  if (catchUp !== undefined) options.catchUp = catchUp
  if (args.flag('paused')) options.paused = true
  const modules = await loadTaskModules(taskPaths(args, io.env), io.cwd)
  return withOffload(storeUrl, { tasks: modules.tasks }, async (offload) => {
    const schedule = await offload.schedule(name, options)
    if (out.json) out.data({ schedule })
    else out.line(`schedule '${name}' (${schedule.task} at '${schedule.cron}' ${schedule.timezone}): ${schedule.paused ? 'paused' : `next run ${nextText(schedule)}`}`)
    return 0
  })
}

/** `2030-01-31 03:00:00 (in 5h 12m)`, or `never` for an expression that does not fire again. */
function nextText(schedule: ScheduleInfo, now = Date.now()): string {
  if (schedule.nextRunAt === undefined) return 'never'
  const ms = schedule.nextRunAt.getTime() - now
  return `${dateTime(schedule.nextRunAt)} (${ms <= 0 ? 'due' : `in ${formatIn(ms)}`})`
}

function formatIn(ms: number): string {
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 1) return `${Math.ceil(ms / 1000)}s`
  if (minutes < 60) return `${minutes}m`
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h ${minutes % 60}m`
  return `${Math.floor(minutes / 1440)}d`
}

