import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import { checkNumber, checkObject, checkOptions } from '../config.js'
import type { JobEvent } from '../job.js'
import type { Logger } from '../logger.js'
import type { EventHub } from './event-hub.js'

/** How the server-sent event streams behave; every field has a default. */
export interface EventStreamOptions {
  /**
   * How often an idle stream gets a comment line, so clients and proxies see it alive (and a
   * filtered stream's `Last-Event-ID` moves past the events it skipped). @defaultValue 15000
   */
  heartbeatMs?: number
  /**
   * Backpressure: how far behind (unsent bytes) a client may fall before its stream pauses. A
   * paused stream sends nothing more until the client has taken what it holds, then catches up
   * from the store's log and goes live again — a slow client costs a bounded buffer, never
   * events. @defaultValue 1048576 (1 MiB)
   */
  maxBufferedBytes?: number
  /**
   * A paused or replaying stream whose client takes nothing at all for this long is
   * disconnected (a dead peer, or one that stopped reading); an `EventSource` reconnects with
   * `Last-Event-ID` and loses nothing. @defaultValue 30000
   */
  stallTimeoutMs?: number
  /**
   * Live events one stream holds while it replays or is paused. Past them it lets them go and
   * reads them from the store instead, so a long replay costs no memory. @defaultValue 10000
   */
  maxHeldEvents?: number
}

export type EventStreamSettings = Required<EventStreamOptions>

const STREAM_OPTIONS = ['heartbeatMs', 'maxBufferedBytes', 'stallTimeoutMs', 'maxHeldEvents'] as const

/** Checks `EventStreamOptions` (at start-up, with did-you-mean) and fills in the defaults. */
export function resolveEventStreamOptions(options: unknown = {}): EventStreamSettings {
  const given = checkObject(options, 'event stream options')
  checkOptions(given, STREAM_OPTIONS, 'event stream options')
  const number = (name: keyof EventStreamOptions, fallback: number, min: number): number =>
    given[name] === undefined ? fallback : checkNumber(given[name], name, { integer: true, min })
  return {
    heartbeatMs: number('heartbeatMs', 15_000, 10),
    maxBufferedBytes: number('maxBufferedBytes', 1024 * 1024, 1024),
    stallTimeoutMs: number('stallTimeoutMs', 30_000, 10),
    maxHeldEvents: number('maxHeldEvents', 10_000, 1),
  }
}

/** How long an `EventSource` waits before it reconnects after the stream broke or was dropped. */
const RETRY_MS = 1000

/** What one stream sends: optionally history first, then live events, possibly until a condition. */
export interface StreamPlan {
  /** Replay the log after this `seq` before going live; `undefined` for live events only. */
  after: number | undefined
  /** One page of the log after `after`, in `seq` order; a page shorter than `pageSize` is its end. */
  history(after: number): Promise<readonly JobEvent[]>
  pageSize: number
  /** Whether the client wants this event. Pure: it may be asked about one event more than once. */
  accept(event: JobEvent): boolean
  /** Checked after the replay and after each live batch: true ends the stream (the server closes it). */
  done?(lastSent: JobEvent | undefined): boolean
}

/**
 * One client's stream of events: history from the store, then the hub's live events, with no gap
 * and no duplicate.
 *
 * It subscribes to the hub when it is made, before anything is read, and holds what arrives. Then
 * it replays the log after the client's position and hands out the held events it did not replay.
 * Every event the hub delivers after the subscription is held, and every one before it was
 * committed before the replay's first read, so the two overlap and never leave a hole; the overlap
 * is dropped by `seq`. If the held events outgrow `maxHeldEvents` during a long replay they are let
 * go and the replay reads on until it catches up with no overflow — the store has them all.
 *
 * Backpressure is the same mechanism: the replay waits for the client to take each page before it
 * reads the next, and a live client more than `maxBufferedBytes` behind is paused — its events
 * held, then replayed from the store once it has drained — rather than buffered for without
 * bound. The hub never waits for a stream. Only a client that takes nothing for
 * `stallTimeoutMs` is disconnected.
 */
export class EventStream {
  /** Events delivered by the hub while the stream replays or is paused; undefined while live. */
  private held: JobEvent[] | undefined = []
  private overflowed = false
  /** The newest `seq` handled: sent, or filtered out. Everything at or below it is behind us. */
  private last: number
  private lastSent: JobEvent | undefined
  /** The newest `id:` the client has seen, so a heartbeat can move it past filtered events. */
  private lastId: number
  private connection: SseConnection | undefined
  private readonly unsubscribe: () => void

  constructor(
    hub: Pick<EventHub, 'subscribe'>,
    private readonly plan: StreamPlan,
    private readonly settings: EventStreamSettings,
    private readonly logger: Logger,
  ) {
    this.last = plan.after ?? 0
    this.lastId = this.last
    this.unsubscribe = hub.subscribe((events) => this.onLive(events))
  }

  /** Gives the stream up before `run` (a check failed and the request gets an error instead). */
  cancel(): void {
    this.unsubscribe()
  }

  /**
   * Takes the reply over and streams until the client leaves, the plan is done or `end()` is
   * called. Resolves when the connection is closed; never rejects (a failed read is logged and
   * the stream broken off, so the client reconnects and resumes).
   */
  async run(reply: FastifyReply): Promise<void> {
    reply.hijack()
    const connection = new SseConnection(reply, this.settings, () => this.heartbeat())
    this.connection = connection
    void connection.closed.then(this.unsubscribe)
    await this.catchUp(connection, this.plan.after !== undefined)
    await connection.closed
  }

  /** Ends the stream from the server's side (shutdown). */
  end(): void {
    this.unsubscribe()
    this.connection?.end()
  }

  /** Replays the log (if asked) while live events are held, then hands out the held ones: live again. */
  private async catchUp(connection: SseConnection, replay: boolean): Promise<void> {
    try {
      if (replay) await this.replay(connection)
      if (connection.isClosed) return
      const held = this.held ?? []
      this.held = undefined
      this.deliver(held)
    } catch (error) {
      this.logger.warn('an event stream failed to read the event log; the client will reconnect', { error })
      connection.destroy()
    }
  }

  private async replay(connection: SseConnection): Promise<void> {
    for (;;) {
      // Paced by the client: the next page is read only once it took the last one.
      if (!(await this.drained(connection))) return
      const page = await this.plan.history(this.last)
      if (connection.isClosed) return
      this.send(page)
      if (page.length >= this.plan.pageSize) continue
      if (!this.overflowed) return
      // Live events were let go during this replay; the log has them, so read on and hold anew.
      this.overflowed = false
      this.held = []
    }
  }

  private async drained(connection: SseConnection): Promise<boolean> {
    const outcome = await connection.drained(this.settings.stallTimeoutMs)
    if (outcome === 'stalled') {
      this.logger.info('disconnected an event stream client that stopped reading; it may resume with Last-Event-ID', {
        buffered: connection.buffered,
      })
      connection.destroy()
    }
    return outcome === 'drained'
  }

  private onLive(events: readonly JobEvent[]): void {
    if (this.held === undefined) this.deliver(events)
    else this.hold(events)
  }

  private hold(events: readonly JobEvent[]): void {
    if (this.overflowed) return
    for (const event of events) {
      if (!this.plan.accept(event)) continue
      if (this.held!.length >= this.settings.maxHeldEvents) {
        this.overflowed = true
        this.held = []
        return
      }
      this.held!.push(event)
    }
  }

  /** Live delivery: send and end the stream if the plan is done; pause a client too far behind. */
  private deliver(events: readonly JobEvent[]): void {
    const connection = this.connection
    if (connection === undefined || connection.isClosed) return
    if (connection.buffered > this.settings.maxBufferedBytes) {
      this.logger.debug('paused an event stream whose client fell behind; it catches up from the log once it drains', {
        buffered: connection.buffered,
      })
      this.held = []
      this.overflowed = false
      this.hold(events)
      void this.catchUp(connection, true)
      return
    }
    this.send(events)
    if (this.plan.done?.(this.lastSent)) this.end()
  }

  private send(events: readonly JobEvent[]): void {
    for (const event of events) {
      if (event.seq <= this.last) continue
      this.last = event.seq
      if (!this.plan.accept(event)) continue
      this.connection!.write(frame(event))
      this.lastSent = event
      this.lastId = event.seq
    }
  }

  private heartbeat(): string | undefined {
    // A stream with bytes still on their way is not idle, and a stalled client must not have its
    // buffer grown by heartbeats.
    if (this.connection!.buffered > 0) return undefined
    // An id-only message dispatches nothing but sets the client's Last-Event-ID: a filtered stream
    // that resumes need not replay the events it already skipped.
    if (this.held !== undefined || this.last <= this.lastId) return ': heartbeat\n\n'
    this.lastId = this.last
    return `: heartbeat\nid: ${this.last}\n\n`
  }
}
/**
 * Each event's message, made once: the hub hands the same event objects to every stream, and with
 * many clients serialising each event once per client would be most of the work.
 */
const frames = new WeakMap<JobEvent, string>()

function frame(event: JobEvent): string {
  let text = frames.get(event)
  if (text === undefined) frames.set(event, (text = `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`))
  return text
}

/** The raw side of one stream: headers, writes, heartbeats, and knowing when the client left. */
class SseConnection {
  readonly closed: Promise<void>
  private readonly res: ServerResponse
  private readonly timer: NodeJS.Timeout
  private gone: boolean

  constructor(reply: FastifyReply, settings: EventStreamSettings, heartbeat: () => string | undefined) {
    const res = (this.res = reply.raw)
    // The client may have left while the stream was being prepared: its 'close' has been and gone.
    this.gone = res.destroyed || res.socket === null || res.socket.destroyed
    this.closed = this.gone ? Promise.resolve() : new Promise((resolve) => res.once('close', resolve))
    void this.closed.then(() => (this.gone = true))
    // A reset connection must not become an uncaught error; 'close' follows it.
    res.on('error', () => undefined)
    const headers: OutgoingHttpHeaders = {}
    // Headers the hooks set (request id, rate limits) still go out on a hijacked reply.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // A stream ends by closing its connection: a kept-alive socket would hold a closing server
      // back (it only closes connections that are idle at the moment it is asked to).
      connection: 'close',
      // nginx buffers responses unless told not to, which would hold events back.
      'x-accel-buffering': 'no',
    })
    // Sends the headers now, so the client knows the stream is open before the first event.
    res.write(`retry: ${RETRY_MS}\n\n`)
    this.timer = setInterval(() => {
      const text = heartbeat()
      if (text !== undefined) this.write(text)
    }, settings.heartbeatMs)
    void this.closed.then(() => clearInterval(this.timer))
  }

  get isClosed(): boolean {
    return this.gone || this.res.destroyed || this.res.writableEnded
  }

  /** Bytes written but not yet taken by the socket. */
  get buffered(): number {
    return this.res.writableLength
  }

  write(text: string): void {
    if (!this.isClosed) this.res.write(text)
  }

  /**
   * Waits until the client has taken what was written: `drained`, or `closed` if it left, or
   * `stalled` if it took nothing at all for a whole `stallMs`.
   */
  drained(stallMs: number): Promise<'drained' | 'closed' | 'stalled'> {
    if (this.isClosed) return Promise.resolve('closed')
    if (!this.res.writableNeedDrain) return Promise.resolve('drained')
    return new Promise((resolve) => {
      let previous = this.res.writableLength
      // Progress, not completion, is what keeps a slow client: a thin link may take long to drain.
      const timer = setInterval(() => {
        if (this.res.writableLength >= previous) finish('stalled')
        previous = this.res.writableLength
      }, stallMs)
      const onDrain = (): void => finish('drained')
      const onClose = (): void => finish('closed')
      const finish = (outcome: 'drained' | 'closed' | 'stalled'): void => {
        clearInterval(timer)
        this.res.off('drain', onDrain)
        this.res.off('close', onClose)
        resolve(outcome)
      }
      this.res.on('drain', onDrain)
      this.res.on('close', onClose)
    })
  }

  end(): void {
    clearInterval(this.timer)
    if (!this.isClosed) this.res.end()
  }

  destroy(): void {
    clearInterval(this.timer)
    this.res.destroy()
  }
}
