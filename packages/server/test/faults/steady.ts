import { Client } from '../helpers/client.js'

export interface SteadyResult {
  /** Messages whose exact reply arrived, in order. */
  exchanged: number
  /** Replies that never came, or came wrong, while the connection stayed open: must be 0. */
  lost: number
  /** The bytes of those messages. */
  lostBytes: number
  /**
   * Reconnects needed because the steady connection's own worker died (cluster: a worker serves many
   * connections, and they go with it). Allowed only where a case says so; the message in flight then
   * is dropped with its connection, not lost on a connection that stayed open.
   */
  reconnects: number
  /** Reconnect attempts refused (cluster, while no worker was alive to hold the shared socket). */
  refused: number
}

/**
 * What a connect gets while cluster has no worker alive: Node's cluster closes the shared listening
 * socket when its last worker leaves, and opens it again for the next.
 */
export const NO_LISTENER = new Set(['ECONNREFUSED', 'ECONNRESET'])

/** Opens a connection, retrying refusals for up to `withinMs`. */
async function openRetrying (port: number, withinMs: number, onRefused: () => void): Promise<Client> {
  const deadline = Date.now() + withinMs
  for (;;) {
    try {
      return await Client.open(port)
    } catch (err) {
      // no listener (ECONNREFUSED), or the listener closed while the connect was queued on it (ECONNRESET)
      if (!NO_LISTENER.has((err as NodeJS.ErrnoException).code ?? '') || Date.now() > deadline) throw err
      onRefused()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/**
 * A well-behaved line client kept busy while faults are injected around it: one numbered message at a
 * time, each reply checked. Its bytes must all come back, in order, whatever happens to other clients.
 */
export class Steady {
  private running = true
  private readonly done: Promise<SteadyResult>
  private firstExchange!: () => void
  /** Resolves at the first message that came back (its connection, and the process serving it, are up). */
  readonly served = new Promise<void>((resolve) => { this.firstExchange = resolve })

  constructor (port: number, { allowReconnect = false } = {}) {
    this.done = this.loop(port, allowReconnect)
  }

  private async loop (port: number, allowReconnect: boolean): Promise<SteadyResult> {
    const result: SteadyResult = { exchanged: 0, lost: 0, lostBytes: 0, reconnects: 0, refused: 0 }
    let client = await Client.open(port)
    let seq = 0
    try {
      while (this.running) {
        const msg = `steady ${seq++}\n`
        const before = client.received
        client.write(msg)
        try {
          await client.until(() => client.received >= before + msg.length || client.closed, 10_000)
        } catch {
          result.lost++
          result.lostBytes += msg.length
          break
        }
        if (client.received >= before + msg.length) {
          if (client.data().subarray(before, before + msg.length).toString() !== msg) { result.lost++; result.lostBytes += msg.length; break }
          if (result.exchanged++ === 0) this.firstExchange()
          continue
        }
        // the connection closed under us
        if (!allowReconnect) { result.lost++; result.lostBytes += msg.length; break }
        result.reconnects++
        client.destroy()
        client = await openRetrying(port, 5000, () => { result.refused++ })
      }
    } finally {
      client.destroy()
    }
    return result
  }

  async stop (): Promise<SteadyResult> {
    this.running = false
    return await this.done
  }
}
