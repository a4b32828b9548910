import pg from 'pg'

const RECONNECT_MIN_MS = 50
const RECONNECT_MAX_MS = 5_000

/**
 * One dedicated connection that LISTENs on a channel and hands every payload to `onPayload`. When
 * the connection drops (the server restarted, `pg_terminate_backend`, a network blip) it reconnects
 * with backoff. Each time LISTEN takes effect, the first time included, it calls `onListening`:
 * notifications sent before that moment were not heard, and the owner treats that as "anything may
 * have changed".
 *
 * Runs only between `start()` and `stop()`, and never keeps the process alive on its own.
 */
export class PgListener {
  private client: pg.Client | undefined
  private running = false
  private reconnectTimer: NodeJS.Timeout | undefined
  private reconnectDelay = RECONNECT_MIN_MS
  private connecting: Promise<void> | undefined

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
    private readonly onListening: () => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Resolves once listening, or once the first attempt failed (retries continue in the background). */
  start(): Promise<void> {
    if (this.running) return this.connecting ?? Promise.resolve()
    this.running = true
    this.connecting = this.connect()
    return this.connecting
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    await this.connecting
    // Started again while the connection under way finished: the connection is the new run's.
    if (this.running) return
    const client = this.client
    this.client = undefined
    if (client !== undefined) await client.end().catch(() => {})
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.config)
    client.on('error', () => this.lost(client))
    client.on('end', () => this.lost(client))
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== undefined) this.onPayload(message.payload)
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`)
      // Stopped while connecting: close what we just opened.
      if (!this.running) {
        await client.end().catch(() => {})
        return
      }
      this.client = client
      this.reconnectDelay = RECONNECT_MIN_MS
      unref(client)
      // Whatever was sent before LISTEN took effect — while connecting for the first time too, not
      // only while reconnecting — never reaches us: the owner must look for itself now.
      this.onListening()
    } catch (error) {
      await client.end().catch(() => {})
      if (!this.running) return
      this.onError(error)
      this.schedule()
    } finally {
      this.connecting = undefined
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return
    this.client = undefined
    client.end().catch(() => {})
    if (this.running) this.schedule()
  }

  private schedule(): void {
    if (this.reconnectTimer !== undefined || !this.running) return
    const delay = this.reconnectDelay
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, this.reconnectDelay * 2)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.running) this.connecting = this.connect()
    }, delay)
    this.reconnectTimer.unref()
  }
}

/** An idle LISTEN connection must not keep the process alive; the store's owner decides that. */
function unref(client: pg.Client): void {
  const stream = (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream
  stream?.unref?.()
}
