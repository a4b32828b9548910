import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach } from 'vitest'
import { PG_URL } from './postgres.js'

const open = new Set<PgProxy>()

afterEach(async () => {
  await Promise.all([...open].map((proxy) => proxy.close()))
})

/**
 * A TCP proxy in front of the test server that can hold back LISTEN commands: a test widens the
 * moment between a process asking to listen and the server listening for it — a window a few
 * milliseconds wide in real life — to as long as it needs, and writes into it.
 */
export class PgProxy {
  /** How many LISTEN commands the server has completed through the proxy. */
  listensDone = 0
  private holding = false
  private readonly held: (() => void)[] = []
  private readonly sockets = new Set<Socket>()
  private readonly waiters: { ready: () => boolean; resolve: () => void }[] = []

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    open.add(this)
  }

  static async start(): Promise<PgProxy> {
    const upstream = new URL(PG_URL)
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxy = new PgProxy(server, (server.address() as { port: number }).port)
    server.on('connection', (client: Socket) => proxy.relay(client, upstream))
    return proxy
  }

  /** `url` (a store URL on the test server) through the proxy. */
  url(url: string): string {
    const proxied = new URL(url)
    proxied.hostname = '127.0.0.1'
    proxied.port = String(this.port)
    return proxied.toString()
  }

  /** From now on, LISTEN commands (and what their connection sends after them) wait for `release()`. */
  hold(): void {
    this.holding = true
  }

  /** Lets the held LISTEN commands through, and later ones at once. */
  release(): void {
    this.holding = false
    for (const resume of this.held.splice(0)) resume()
  }

  /** Resolves once `count` LISTEN commands are being held. */
  heldCount(count: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.held.length >= count, `${count} LISTEN command(s) held`, timeoutMs)
  }

  /** Resolves once the server has completed `count` LISTEN commands in all. */
  listened(count: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.listensDone >= count, `${count} LISTEN command(s) completed`, timeoutMs)
  }

  async close(): Promise<void> {
    open.delete(this)
    this.release()
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private until(ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (ready()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const waiter = {
        ready,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        reject(new Error(`the proxy never saw ${what}`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  private changed(): void {
    for (const waiter of this.waiters.filter((candidate) => candidate.ready())) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }

  private relay(client: Socket, upstream: URL): void {
    const server = connect(Number(upstream.port || 5432), upstream.hostname)
    for (const socket of [client, server]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        server.destroy()
      })
    }
    // Client to server: a chunk carrying a LISTEN query, and everything after it, may wait.
    let queue: Buffer[] | undefined
    client.on('data', (chunk: Buffer) => {
      if (queue !== undefined) return void queue.push(chunk)
      if (this.holding && chunk.includes('LISTEN ')) {
        queue = [chunk]
        this.held.push(() => {
          for (const waiting of queue!) server.write(waiting)
          queue = undefined
        })
        this.changed()
        return
      }
      server.write(chunk)
    })
    // Server to client: count LISTEN completions (a CommandComplete message tagged LISTEN).
    server.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf('LISTEN\u0000'); at >= 0; at = chunk.indexOf('LISTEN\u0000', at + 1)) {
        if (at >= 5 && chunk[at - 5] === 0x43) this.listensDone++
      }
      if (this.listensDone > 0) this.changed()
      client.write(chunk)
    })
  }
}
