/** The streams a command talks to; `process` in production, buffers or pipes in tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
}

type Paint = (text: string) => string

/**
 * Where a command's words go. In `--json` mode stdout carries machine output only (`data` for one
 * document, `record` for the JSON Lines of long-running commands) and human lines are dropped, so
 * a script can pipe stdout straight into a JSON parser; messages for people go to stderr either way.
 */
export class Output {
  readonly dim: Paint
  readonly bold: Paint
  readonly red: Paint
  readonly green: Paint
  readonly yellow: Paint
  readonly cyan: Paint
  readonly magenta: Paint

  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
  ) {
    // Colour only for a person at a terminal, and never when NO_COLOR asks for none (no-color.org).
    const color = io.stdout.isTTY === true && !io.env.NO_COLOR && io.env.TERM !== 'dumb'
    const paint = (open: number, close: number): Paint => (color ? (text) => `\x1b[${open}m${text}\x1b[${close}m` : (text) => text)
    this.dim = paint(2, 22)
    this.bold = paint(1, 22)
    this.red = paint(31, 39)
    this.green = paint(32, 39)
    this.yellow = paint(33, 39)
    this.cyan = paint(36, 39)
    this.magenta = paint(35, 39)
  }

  /** A line for people on stdout; dropped in `--json` mode. */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(text + '\n')
  }

  /** The one JSON document a short command prints in `--json` mode. */
  data(document: unknown): void {
    this.io.stdout.write(JSON.stringify(document, null, 2) + '\n')
  }

  /** One JSON Lines record, for `dev` and `worker`, whose output is a stream of events. */
  record(document: unknown): void {
    this.io.stdout.write(JSON.stringify(document) + '\n')
  }

  /** A message for people on stderr (progress, hints), in either mode. */
  note(text: string): void {
    this.io.stderr.write(text + '\n')
  }
}
