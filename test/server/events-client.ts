import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'

/** One server-sent message that dispatches an event (it has `data`). */
export interface SseMessage {
  id: string | undefined
  event: string | undefined
  data: string
}

/** A job event as it arrives in an SSE message's `data` (times as ISO strings). */
export interface StreamedEvent {
  seq: number
  jobId: string
  task: string
  queue: string
  at: string
  type: string
  state: string
  attempt: number
  data?: Record<string, unknown>
}

/**
 * A client of a server-sent event stream over a real socket, parsing the stream the way an
 * `EventSource` does: blank-line separated blocks of `field: value` lines, `:` comments, and the
 * last `id:` seen (even from a block without data) as the Last-Event-ID to resume from.
 */
export class SseClient {
  readonly messages: SseMessage[] = []
  /** The job events received, in order (each message's data, parsed once). */
  readonly events: StreamedEvent[] = []
  readonly comments: string[] = []
  lastEventId: string | undefined
  /** Non-stream answers (errors) arrive here whole. */
  body = ''
  /** Bytes received, stream or not. */
  received = 0
  /** Resolves when the response is over, whoever ended it. */
  readonly ended: Promise<void>
  isEnded = false
  private buffer = ''
  private readonly waiters = new Set<() => void>()

  private constructor(
    readonly response: IncomingMessage,
    private readonly destroy: () => void,
  ) {
    response.setEncoding('utf8')
    this.ended = new Promise((resolve) => {
      const done = (): void => {
        this.isEnded = true
        resolve()
        this.wake()
      }
      response.on('end', done)
      response.on('close', done)
      response.on('error', done)
    })
    response.on('data', (chunk: string) => {
      this.received += Buffer.byteLength(chunk)
      if (this.isStream) this.parse(chunk)
      else this.body += chunk
      this.wake()
    })
  }

  /** Opens `url` and resolves once the response headers arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      // A socket of its own (no keep-alive pool), so nothing outlives the test.
      const req = request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (response) => {
        resolve(new SseClient(response, () => req.destroy()))
      })
      req.on('error', reject)
      req.end()
    })
  }

  get status(): number {
    return this.response.statusCode!
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers
  }

  get isStream(): boolean {
    return (this.response.headers['content-type'] ?? '').startsWith('text/event-stream')
  }

  get seqs(): number[] {
    return this.events.map((event) => event.seq)
  }

  /** Waits until `condition` holds, checked on every chunk; fails if the stream ends first or after `ms`. */
  waitFor(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
    if (condition()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}; got ${this.describe()}`)), ms)
      const check = (): void => {
        if (condition()) finish(undefined)
        else if (this.isEnded) finish(new Error(`the stream ended before ${what}; got ${this.describe()}`))
      }
      const finish = (error: Error | undefined): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
        if (error === undefined) resolve()
        else reject(error)
      }
      this.waiters.add(check)
    })
  }

  /** Disconnects, as a browser tab closing would. */
  close(): Promise<void> {
    this.destroy()
    return this.ended
  }

  private describe(): string {
    return `${this.messages.length} messages (${this.events.map((event) => `${event.seq}:${event.type}`).join(' ')})`
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  private parse(chunk: string): void {
    this.buffer += chunk
    let start = 0
    for (let end = this.buffer.indexOf('\n\n'); end !== -1; end = this.buffer.indexOf('\n\n', start)) {
      const block = this.buffer.slice(start, end)
      start = end + 2
      let id: string | undefined
      let event: string | undefined
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim())
          continue
        }
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'id') id = value
        else if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
      if (id !== undefined) this.lastEventId = id
      if (data.length === 0) continue
      const message = { id, event, data: data.join('\n') }
      this.messages.push(message)
      this.events.push(JSON.parse(message.data) as StreamedEvent)
    }
    this.buffer = this.buffer.slice(start)
  }
}
