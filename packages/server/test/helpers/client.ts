import { connect, type Socket } from 'node:net'

/** A test client that collects everything it receives and can wait for an amount or the close. */
export class Client {
  readonly socket: Socket
  private chunks: Buffer[] = []
  received = 0
  closed = false
  error: Error | undefined
  private waiters: (() => void)[] = []
  readonly connected: Promise<void>

  constructor (port: number, host = '127.0.0.1', { allowHalfOpen = false, localAddress }: { allowHalfOpen?: boolean, localAddress?: string } = {}) {
    this.socket = connect({ port, host, allowHalfOpen, localAddress })
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve())
      this.socket.once('error', reject)
    })
    this.socket.on('data', (d: Buffer) => { this.chunks.push(d); this.received += d.length; this.wake() })
    this.socket.on('error', (e) => { this.error = e })
    this.socket.on('close', () => { this.closed = true; this.wake() })
  }

  static async open (port: number, host?: string, opts?: { allowHalfOpen?: boolean, localAddress?: string }): Promise<Client> {
    const c = new Client(port, host, opts)
    await c.connected
    return c
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  data (): Buffer { return Buffer.concat(this.chunks) }

  write (data: string | Buffer): void { this.socket.write(data) }

  /** Resolves when `predicate` holds; rejects after `timeoutMs` with what was received so far. */
  async until (predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}: received ${this.received} bytes, closed=${this.closed}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async waitBytes (n: number, timeoutMs = 10_000): Promise<Buffer> {
    await this.until(() => this.received >= n || this.closed, timeoutMs, `${n} bytes`)
    return this.data()
  }

  async waitClose (timeoutMs = 10_000): Promise<void> {
    await this.until(() => this.closed, timeoutMs, 'close')
  }

  destroy (): void { this.socket.destroy() }
}

/** Each client writes `count` numbered lines (`c<i> m<j>`); returns what each wrote, which an echo answers in full. */
export function writeNumberedLines (clients: Client[], count: number): string[] {
  return clients.map((c, i) => {
    const text = Array.from({ length: count }, (_, j) => `c${i} m${j}\n`).join('')
    c.write(text)
    return text
  })
}

/** A 4-byte big-endian length header + payload. */
export function lengthFrame (payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}
