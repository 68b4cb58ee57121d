/**
 * Request and expected-reply builders, and the byte-stream verifier.
 *
 * Every request carries a sequence number (lowercase hex) in its first bytes, the rest is a fixed
 * printable-ASCII template, so a server that returns stale, duplicated or reordered data is caught.
 * Building one is a copy of the template plus a handful of digit writes. Expected replies are fully
 * determined by the request (echo, upper-case, or a user function), framed like the request, so
 * verification is a plain byte-stream comparison: it does not care how the server's reply bytes are
 * split or merged across reads, which is what `raw` framing needs and is just as right for `line`
 * and `length`.
 */

import { LENGTH_HEADER_BYTES, type Framing } from '@echoplex/core'

/** The framings the raw TCP generator speaks (http goes through autocannon). */
export type LoadFraming = Exclude<Framing, 'http'>
/** Computes the expected reply PAYLOAD for a request payload (without `\n` or length header). */
export type ExpectFn = (payload: Buffer) => Buffer | Uint8Array | string
export type Expect = 'echo' | 'upper' | ExpectFn

const LF = 0x0a
const LOWER_HEX = Buffer.from('0123456789abcdef', 'latin1')
const UPPER_HEX = Buffer.from('0123456789ABCDEF', 'latin1')
/** Width of the sequence-number field (48 bits of hex). Shorter payloads carry its low digits. */
export const SEQ_DIGITS = 12
const TEMPLATE_CHARS = 'abcdefghijklmnopqrstuvwxyz-0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ.'

/** Framing overhead in bytes on the wire around a payload. */
export function framingOverhead (framing: LoadFraming): number {
  return framing === 'length' ? LENGTH_HEADER_BYTES : framing === 'line' ? 1 : 0
}

/** Printable ASCII template (never contains `\n`), `size` bytes. */
export function payloadTemplate (size: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = TEMPLATE_CHARS.charCodeAt(i % TEMPLATE_CHARS.length)
  return b
}

/** ASCII upper-casing (a-z only), as the `upper` handler does for ASCII input. */
export function asciiUpper (src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(src.length)
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!
    out[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c
  }
  return out
}

/** Wraps a payload in the framing: nothing (`raw`), a trailing `\n` (`line`), a 4-byte BE length (`length`). */
export function framePayload (framing: LoadFraming, payload: Uint8Array): Buffer {
  const over = framingOverhead(framing)
  const out = Buffer.allocUnsafe(payload.length + over)
  if (framing === 'length') {
    out.writeUInt32BE(payload.length, 0)
    out.set(payload, LENGTH_HEADER_BYTES)
  } else {
    out.set(payload, 0)
    if (framing === 'line') out[payload.length] = LF
  }
  return out
}

function writeSeq (buf: Buffer, offset: number, digits: number, seq: number, table: Buffer): void {
  let v = seq
  for (let i = offset + digits - 1; i >= offset; i--) {
    buf[i] = table[v % 16]!
    v = Math.floor(v / 16)
  }
}

/** A batch of consecutive requests in one buffer, with the expected reply of each. */
export interface RequestBatch {
  /** All the requests back to back, ready for one write. */
  wire: Buffer
  /** The exact bytes expected back for each request, in order. */
  expected: Buffer[]
}

/**
 * Builds requests with sequence numbers and their expected replies. `payloadBytes` is the payload
 * size without framing (the `\n` of `line` and the 4-byte header of `length` come on top).
 */
export class PayloadFactory implements RequestSource {
  readonly wireBytes: number
  readonly greeting = null
  private readonly reqTemplate: Buffer
  private readonly expTemplate: Buffer | null
  private readonly digits: number
  private readonly seqOffset: number

  constructor (
    readonly framing: LoadFraming,
    readonly payloadBytes: number,
    private readonly expect: Expect = 'echo',
  ) {
    if (!Number.isInteger(payloadBytes) || payloadBytes < 1) throw new RangeError(`payloadBytes must be a positive integer, got ${payloadBytes}`)
    const payload = payloadTemplate(payloadBytes)
    this.reqTemplate = framePayload(framing, payload)
    this.wireBytes = this.reqTemplate.length
    this.expTemplate = expect === 'upper' ? framePayload(framing, asciiUpper(payload)) : null
    this.digits = Math.min(SEQ_DIGITS, payloadBytes)
    this.seqOffset = framing === 'length' ? LENGTH_HEADER_BYTES : 0
  }

  /** The payload (without framing) of request `seq`. */
  payload (seq: number): Buffer {
    return this.request(seq).subarray(this.seqOffset, this.seqOffset + this.payloadBytes)
  }

  /** The framed request `seq`. */
  request (seq: number): Buffer {
    const b = Buffer.allocUnsafe(this.wireBytes)
    this.reqTemplate.copy(b, 0)
    writeSeq(b, this.seqOffset, this.digits, seq, LOWER_HEX)
    return b
  }

  /** The framed reply expected for `request` (a buffer from `request`/`batch`) with sequence number `seq`. */
  expected (request: Buffer, seq: number): Buffer {
    if (this.expect === 'echo') return request
    if (this.expTemplate !== null) {
      const b = Buffer.allocUnsafe(this.expTemplate.length)
      this.expTemplate.copy(b, 0)
      writeSeq(b, this.seqOffset, this.digits, seq, UPPER_HEX)
      return b
    }
    const fn = this.expect as ExpectFn
    const payload = request.subarray(this.seqOffset, this.seqOffset + this.payloadBytes)
    const reply = fn(Buffer.from(payload))
    if (this.framing === 'raw' && reply.length === 0) throw new RangeError('expect() returned an empty reply: with raw framing there would be nothing to wait for')
    return framePayload(this.framing, typeof reply === 'string' ? Buffer.from(reply, 'utf8') : reply)
  }

  verifier (capacity: number): Verifier { return new ReplyVerifier(capacity) }

  /** `count` consecutive requests from `firstSeq` in one buffer, and their expected replies. */
  batch (firstSeq: number, count: number): RequestBatch {
    const w = this.wireBytes
    const wire = Buffer.allocUnsafe(w * count)
    const expected: Buffer[] = new Array(count)
    for (let i = 0; i < count; i++) {
      const off = i * w
      this.reqTemplate.copy(wire, off)
      writeSeq(wire, off + this.seqOffset, this.digits, firstSeq + i, LOWER_HEX)
      expected[i] = this.expected(wire.subarray(off, off + w), firstSeq + i)
    }
    return { wire, expected }
  }
}

/** The payload of a framed request (without the `\n` of line or the header of length). */
export function unframe (framing: LoadFraming, framed: Buffer): Buffer {
  if (framing === 'length') return framed.subarray(LENGTH_HEADER_BYTES)
  if (framing === 'line') return framed.subarray(0, framed.length - 1)
  return framed
}

/** Checks one connection's reply stream against the requests in flight on it. */
export interface Verifier {
  /** Requests sent and not yet completely answered. */
  readonly outstanding: number
  /** Start time of the oldest outstanding request (NaN when none). */
  readonly oldestStart: number
  /** What the last failed `feed` saw, for the user (null until one failed). */
  readonly mismatch: string | null
  /** Queues what the next reply is checked against; `start` is the time its latency is measured from. */
  push (expected: Buffer, start: number): void
  /** Checks `chunk`; calls `onComplete` per completed reply; false on the first mismatch. */
  feed (chunk: Buffer, onComplete: (start: number, replyBytes: number) => void): boolean
  /** Forgets everything outstanding; returns how many requests were dropped. */
  clear (): number
}

/** What the engine needs of a request builder: the PayloadFactory (echo/upper/function) or a load script. */
export interface RequestSource {
  /** Framed request number `seq` of this engine. */
  request (seq: number): Buffer
  /** What the verifier checks the reply to `request` against (the expected bytes, or the request itself for a check). */
  expected (request: Buffer, seq: number): Buffer
  /** `count` consecutive requests from `firstSeq` in one buffer, and their expected entries. */
  batch (firstSeq: number, count: number): RequestBatch
  /** A verifier for one connection with `capacity` requests in flight. */
  verifier (capacity: number): Verifier
  /** Bytes the server greets each connection with, or null. */
  readonly greeting: Buffer | null
}

/** A short printable rendering of some bytes, for mismatch messages. */
export function preview (b: Uint8Array, max = 40): string {
  const s = JSON.stringify(Buffer.from(b.subarray(0, max)).toString('latin1'))
  return b.length > max ? `${s.slice(0, -1)}…" (${b.length} B)` : s
}

/** True when `a[aStart, aStart+n)` equals `b[bStart, bStart+n)`. */
export function bytesEqual (a: Buffer, aStart: number, b: Buffer, bStart: number, n: number): boolean {
  if (n <= 16) {
    for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false
    return true
  }
  return a.compare(b, bStart, bStart + n, aStart, aStart + n) === 0
}

/**
 * Verifies a reply byte stream against a FIFO of expected replies. Feed it every chunk as it arrives;
 * it reports each reply that completed and stops at the first byte that differs (or arrives when
 * nothing is expected), after which the stream is out of sync and the connection must be dropped.
 * The queue is a ring of fixed capacity (the most requests a connection has in flight).
 */
export class ReplyVerifier implements Verifier {
  mismatch: string | null = null
  private readonly exp: Array<Buffer | undefined>
  private readonly starts: Float64Array
  private head = 0
  private offset = 0
  private size = 0

  constructor (readonly capacity: number) {
    this.exp = new Array(capacity)
    this.starts = new Float64Array(capacity)
  }

  /** Requests sent and not yet completely answered. */
  get outstanding (): number { return this.size }

  /** Queues an expected reply; `start` is the time its latency is measured from. */
  push (expected: Buffer, start: number): void {
    if (this.size === this.capacity) throw new Error('ReplyVerifier: more requests in flight than its capacity')
    const i = (this.head + this.size) % this.capacity
    this.exp[i] = expected
    this.starts[i] = start
    this.size++
  }

  /** Start time of the oldest outstanding request (NaN when none). */
  get oldestStart (): number { return this.size > 0 ? this.starts[this.head]! : NaN }

  /**
   * Checks `chunk` against what is expected. Calls `onComplete(start, replyBytes)` for every reply
   * completed by it.
   * Returns true when every byte matched; false on the first mismatch (including unexpected extra
   * bytes), leaving the verifier in an undefined state.
   */
  feed (chunk: Buffer, onComplete: (start: number, replyBytes: number) => void): boolean {
    let p = 0
    const len = chunk.length
    while (p < len) {
      if (this.size === 0) {
        this.mismatch = `${len - p} byte(s) arrived with no request outstanding: ${preview(chunk.subarray(p))}`
        return false
      }
      const e = this.exp[this.head]!
      const n = Math.min(len - p, e.length - this.offset)
      if (!bytesEqual(chunk, p, e, this.offset, n)) {
        this.mismatch = `expected ${preview(e.subarray(this.offset))}, got ${preview(chunk.subarray(p))}`
        return false
      }
      p += n
      this.offset += n
      if (this.offset === e.length) {
        const start = this.starts[this.head]!
        this.exp[this.head] = undefined
        this.head = (this.head + 1) % this.capacity
        this.size--
        this.offset = 0
        onComplete(start, e.length)
      }
    }
    return true
  }

  /** Forgets everything outstanding (the connection is gone); returns how many requests were dropped. */
  clear (): number {
    const dropped = this.size
    for (let i = 0; i < this.capacity; i++) this.exp[i] = undefined
    this.head = 0
    this.offset = 0
    this.size = 0
    return dropped
  }
}
