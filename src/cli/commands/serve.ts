import { relative, resolve } from 'node:path'
import type { RunningServer, ServerOptions } from '../../server/app.js'
import { loadApiTokens } from '../../server/auth.js'
import type { Args, OptionSpecs } from '../args.js'
import { TASKS_OPTION, withOffload, type Command } from '../command.js'
import type { CliIo, Output } from '../output.js'
import { loadTaskModules, taskPaths, type TaskModules } from '../task-modules.js'

/** The HTTP API's flags, shared by `serve` and `dev`. */
export const SERVER_OPTIONS: OptionSpecs = {
  host: { type: 'string', value: '<address>', description: 'where the HTTP API listens; anything but loopback needs API tokens', defaultText: '127.0.0.1' },
  port: { type: 'string', value: '<n>', description: 'the HTTP API port; 0 picks a free one', defaultText: '7070' },
  'tokens-file': {
    type: 'string',
    value: '<path>',
    description: 'API tokens, JSON: {"tokens":[{"name":"ci","scope":"write","token":"…"}]}',
    defaultText: 'none; $OFFLOAD_API_TOKENS adds scope:token pairs',
  },
}

/**
 * The server, loaded only by the commands that serve: every other command starts without paying
 * for fastify and its schema compilers.
 */
export const serverModule = (): Promise<typeof import('../../server/app.js')> => import('../../server/app.js')

/** Core option names → the flags, so "port must be …" reads "--port must be …". */
export const SERVER_FLAGS: Record<string, string> = { host: '--host', port: '--port' }

/**
 * Server options from the flags and `OFFLOAD_API_TOKENS`, checked — tokens read, an exposed
 * address without them refused — before anything touches the store.
 */
export async function serverOptions(args: Args, io: CliIo): Promise<ServerOptions> {
  const file = args.string('tokens-file')
  const options: ServerOptions = { tokens: loadApiTokens({ env: io.env.OFFLOAD_API_TOKENS, file: file === undefined ? undefined : resolve(io.cwd, file) }) }
  const host = args.string('host')
  if (host !== undefined) options.host = host
  const port = args.integer('port')
  if (port !== undefined) options.port = port
  const { checkExposure, resolveServerOptions } = await serverModule()
  checkExposure(resolveServerOptions(options))
  return options
}

/** One line on who may call the API, for the banners. */
export function authText(options: ServerOptions): string {
  const tokens = options.tokens ?? []
  if (tokens.length === 0) return 'no tokens: open to clients on this machine'
  const scopes = ['read', 'write', 'admin'].map((scope) => [scope, tokens.filter((token) => token.scope === scope).length] as const)
  return `${tokens.length} token${tokens.length === 1 ? '' : 's'} (${scopes.filter(([, n]) => n > 0).map(([scope, n]) => `${scope} ${n}`).join(', ')})`
}

/** Resolves with the first SIGINT or SIGTERM; `dispose` stops listening for them. */
function firstSignal(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => {}
  const signal = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return {
    signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

export const serveCommand: Command = {
  name: 'serve',
  usage: 'serve',
  summary: 'run the HTTP API (no worker) until SIGINT or SIGTERM',
  description:
    'Serves the HTTP API (docs/http-api.md) on --host:--port for the --tasks modules, which it needs\n' +
    'to accept their jobs; it runs none of them: start workers with `offload worker`. Without API\n' +
    'tokens every endpoint is open, so it listens only on a loopback address; with tokens (from\n' +
    '$OFFLOAD_API_TOKENS and/or --tokens-file) each request needs one with the right scope. On\n' +
    'SIGINT or SIGTERM it stops accepting requests, answers long polls at once and exits once the\n' +
    'requests in flight are answered. With --json, prints JSON Lines: {"type":"listening","url":…}\n' +
    'first, {"type":"stopped"} last.',
  options: { ...TASKS_OPTION, ...SERVER_OPTIONS },
  positionals: { min: 0, max: 0 },
  flags: SERVER_FLAGS,
  examples: [
    'offload serve --tasks dist/tasks.js',
    'offload serve --tasks dist/tasks.js --port 0 --json',
    'OFFLOAD_API_TOKENS=write:$(cat /run/secrets/api-token) offload serve --tasks dist/tasks.js --host 0.0.0.0',
  ],
  async run({ args, out, io, storeUrl }) {
    const options = await serverOptions(args, io)
    const modules = await loadTaskModules(taskPaths(args, io.env), io.cwd)
    return withOffload(storeUrl, { tasks: modules.tasks }, async (offload, store) => {
      const { version } = await offload.migrate()
      const server = await (await serverModule()).startServer(offload, options)
      const stop = firstSignal()
      try {
        if (out.json) {
          out.record({ type: 'listening', url: server.url, store: store.description, schemaVersion: version, tasks: modules.tasks.map((task) => task.name), auth: (options.tokens ?? []).length > 0 })
        } else {
          out.line(`${out.bold('offload serve')}  ${server.url}  ${store.description} (schema v${version})`)
          printApi(out, io, server, options, modules)
          out.line(`  stop     Ctrl-C: requests in flight are answered first`)
          out.line()
        }
        const signal = await stop.signal
        if (!out.json) out.line(`${signal}: stopping`)
      } finally {
        stop.dispose()
        await server.close()
      }
      if (out.json) out.record({ type: 'stopped' })
      else out.line('stopped')
      return 0
    })
  },
}

/** The banner lines `serve` and `dev` share: tasks, the API's address and docs, who may call it. */
export function printApi(out: Output, io: CliIo, server: RunningServer, options: ServerOptions, modules: TaskModules): void {
  const files = modules.files.map((file) => relative(io.cwd, file) || file).join(', ')
  out.line(`  tasks    ${modules.tasks.map((task) => task.name).join(', ')}  ${out.dim(`from ${files}`)}`)
  out.line(`  api      ${server.url}  ${out.dim(`(${server.url}/openapi.json; docs/http-api.md)`)}`)
  out.line(`  web      ${server.url}/  ${out.dim('(the dashboard; docs/dashboard.md)')}`)
  out.line(`  auth     ${authText(options)}`)
}
