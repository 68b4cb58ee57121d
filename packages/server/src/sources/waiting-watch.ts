import type { Socket } from 'node:net'

/** Why a waiting connection was dropped before any child took it. */
export type GoneReason = 'closed' | 'timeout'

/** A libuv stream handle as net.Socket keeps it (internal, stable since Node 0.x). */
interface StreamHandle { readStop?: () => number, reading?: boolean }

/** Stops libuv reading from the socket now (pause() alone lets it read up to the high-water mark). */
function stopReading (socket: Socket): void {
  socket.pause()
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle
  if (handle?.readStop !== undefined) {
    handle.readStop()
    handle.reading = false
  }
}

/**
 * Watches a connection accepted by a primary that does not serve it (fork's waiting queue) without
 * losing a byte of it: the socket is read once. If that read is the client's FIN (it left without a
 * word) or the connection resets, `onGone('closed')`; if it is data, reading stops and the bytes are
 * kept for the child that will serve the connection (`release()` hands them over). A connection still
 * waiting after `timeoutMs` is `onGone('timeout')`. A client that sent data and then FIN is kept: it
 * may be a half-close still owed its replies.
 */
export class WaitingWatch {
  private preread: Buffer | undefined
  private done = false
  private readonly timer: NodeJS.Timeout | undefined

  constructor (private readonly socket: Socket, timeoutMs: number, private readonly onGone: (why: GoneReason) => void) {
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => this.gone('timeout'), timeoutMs)
      this.timer.unref()
    }
    socket.on('data', this.onData)
    socket.once('end', this.onEnd)
    socket.once('close', this.onClose)
    socket.resume()
  }

  private readonly onData = (chunk: Buffer): void => {
    this.preread = this.preread === undefined ? chunk : Buffer.concat([this.preread, chunk])
    // a client that spoke is alive: hold what it said for its child, read no more
    stopReading(this.socket)
  }

  /** No timeout from now on (a graceful stop: its grace period governs how long connections wait). */
  cancelTimeout (): void { clearTimeout(this.timer) }

  private readonly onEnd = (): void => { if (this.preread === undefined) this.gone('closed') }
  private readonly onClose = (): void => { this.gone('closed') }

  private gone (why: GoneReason): void {
    if (this.done) return
    this.stop()
    this.onGone(why)
  }

  private stop (): void {
    this.done = true
    clearTimeout(this.timer)
    this.socket.off('data', this.onData)
    this.socket.off('end', this.onEnd)
    this.socket.off('close', this.onClose)
  }

  /**
   * Stops watching, before the socket is handed over: reading stops, and the bytes read so far (if
   * any) are returned, to be served before anything the child reads itself.
   */
  release (): Buffer | undefined {
    if (this.done) return this.preread
    this.stop()
    stopReading(this.socket)
    // chunks read before pause() took effect wait in the stream's buffer
    const buffered: Buffer[] = this.preread === undefined ? [] : [this.preread]
    for (let chunk = this.socket.read() as Buffer | null; chunk !== null; chunk = this.socket.read() as Buffer | null) buffered.push(chunk)
    // read() may have asked libuv to read again: stop it before the handle leaves this process
    stopReading(this.socket)
    return buffered.length === 0 ? undefined : Buffer.concat(buffered)
  }
}
