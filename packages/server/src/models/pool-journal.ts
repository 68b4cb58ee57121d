/**
 * A pool thread's result journal, in memory the primary shares. A thread holds the results of a batch
 * to send them together; one stopped for a stuck task (the heartbeat) runs no more code, and the
 * results it held for other connections would die with it. So before a thread starts another task
 * while results wait (and as an async result settles), it copies the simple ones here — a reply of
 * bytes, a string or an HTTP response, or none, with no ctx calls, no ctx.state and no error — and
 * clears the journal once they have left. When the thread ends, the primary reads back what never
 * arrived.
 * Layout: Int32 [count, bytes used], then per result Int32 [token, kind, length] and its bytes,
 * padded to 4. An HTTP response's bytes: Int32 head length, the head as JSON, the body. A result that
 * does not fit is not copied (its connection fails with the thread).
 */
import type { PoolResult } from './pool-protocol.js'

export const JOURNAL_BYTES = 64 * 1024
const COUNT = 0
const USED = 1
const DATA = 8
const ENTRY = 12
const NONE = 0
const BYTES = 1
const STRING = 2
const HTTP = 3

/** A reply the journal keeps: none, bytes, a string, or an HTTP response's head (JSON-able) and byte body. */
export type JournalReply = undefined | string | Uint8Array | { head: object, body?: Uint8Array }

export class ResultJournal {
  private readonly counts: Int32Array
  private readonly view: DataView
  private readonly bytes: Buffer

  constructor (readonly memory = new SharedArrayBuffer(JOURNAL_BYTES)) {
    this.counts = new Int32Array(memory, 0, 2)
    this.view = new DataView(memory)
    this.bytes = Buffer.from(memory)
  }

  /** The thread: copies one settled result (nothing when it does not fit). */
  add (token: number, reply: JournalReply): void {
    let kind = NONE
    let head = ''
    let body: string | Uint8Array = ''
    if (typeof reply === 'string') {
      kind = STRING
      body = reply
    } else if (reply instanceof Uint8Array) {
      kind = BYTES
      body = reply
    } else if (reply !== undefined) {
      try {
        head = JSON.stringify(reply.head)
      } catch {
        return
      }
      kind = HTTP
      body = reply.body ?? ''
    }
    const headLength = kind === HTTP ? 4 + Buffer.byteLength(head) : 0
    const length = headLength + (typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
    const at = DATA + this.counts[USED]!
    const end = at + ENTRY + ((length + 3) & ~3)
    if (end > this.bytes.length) return
    this.view.setInt32(at, token, true)
    this.view.setInt32(at + 4, kind, true)
    this.view.setInt32(at + 8, length, true)
    if (kind === HTTP) {
      this.view.setInt32(at + ENTRY, headLength - 4, true)
      this.bytes.write(head, at + ENTRY + 4, 'utf8')
    }
    if (typeof body === 'string') this.bytes.write(body, at + ENTRY + headLength, 'utf8')
    else this.bytes.set(body, at + ENTRY + headLength)
    this.counts[USED] = end - DATA
    // the count last: a result is there once counted
    Atomics.store(this.counts, COUNT, this.counts[COUNT]! + 1)
  }

  /** The thread: its held results have left (a copy still here when it is stopped is of a settled task, and is skipped). */
  clear (): void {
    Atomics.store(this.counts, COUNT, 0)
    this.counts[USED] = 0
  }

  /** The primary, once the thread has ended: the results it had settled and not sent, by token. */
  read (): Map<number, PoolResult> {
    const found = new Map<number, PoolResult>()
    const count = Atomics.load(this.counts, COUNT)
    for (let i = 0, at = DATA; i < count; i++) {
      const token = this.view.getInt32(at, true)
      const kind = this.view.getInt32(at + 4, true)
      const length = this.view.getInt32(at + 8, true)
      // a copy, not a view: the journal's memory is the thread's to reuse
      const bytes = Buffer.from(this.bytes.subarray(at + ENTRY, at + ENTRY + length))
      if (kind === HTTP) {
        const headLength = bytes.readInt32LE(0)
        const reply = JSON.parse(bytes.toString('utf8', 4, 4 + headLength)) as { body?: unknown }
        if (reply.body === undefined && 4 + headLength < length) reply.body = bytes.subarray(4 + headLength)
        found.set(token, { reply })
      } else {
        found.set(token, kind === NONE ? {} : { reply: kind === STRING ? bytes.toString('utf8') : bytes })
      }
      at += ENTRY + ((length + 3) & ~3)
    }
    return found
  }
}
