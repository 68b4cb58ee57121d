/**
 * Load scripts: how to load a handler that is not an echo (in the spirit of wrk's Lua scripts and
 * autocannon's `requests`). A load script is a module whose default export says how to build request
 * `n` and what its reply must be:
 *
 *   export default {
 *     greeting: 'welcome\n',                       // optional: bytes the server sends on connect
 *     request (n) { return `hello ${n}` },          // payload of request n (the generator frames it)
 *     reply (n, request) { return `HELLO ${n}!` },  // the exact reply payload, framed like the request…
 *     check (reply, n, request) { return true },    // …or a check of each reply frame (line/length only)
 *   }
 *
 * `n` is unique in the run (0, 1, 2, … across every load thread). `reply` is verified as a byte stream
 * (any framing, any split of the reply); `check` gets each reply decoded with the handler's framing and
 * returns true, or false / a reason for a mismatch. A script is loaded by path in every load thread.
 */
import { codecFor, errors } from '@echoplex/core'
import { framePayload, framingOverhead, preview, ReplyVerifier, unframe, type LoadFraming, type RequestSource, type Verifier } from './payload.js'

type Bytes = string | Uint8Array

export interface LoadScript {
  /** The framing the script is written for (checked against the handler's when given). */
  framing?: LoadFraming
  /** Bytes the server sends when a connection opens, before any reply (e.g. a welcome line). */
  greeting?: Bytes
  /** The payload of request `n` (without framing: the generator adds `\n` or the length header). */
  request (n: number): Bytes
  /** The exact reply payload to request `n` (framed like the request). */
  reply? (n: number, request: Buffer): Bytes
  /** Checks one reply frame (decoded with the framing): true when right, else false or a reason. */
  check? (reply: Buffer, n: number, request: Buffer): boolean | string
}

const toBuffer = (b: Bytes): Buffer => typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/** A reason when `value` is not a usable load script for `framing`, else undefined. */
export function validateLoadScript (value: unknown, framing: LoadFraming): string | undefined {
  if (value === null || typeof value !== 'object') return 'the default export is not an object with request() and reply() or check()'
  const s = value as Partial<LoadScript>
  if (typeof s.request !== 'function') return 'missing a request(n) function'
  if (s.reply !== undefined && typeof s.reply !== 'function') return 'reply must be a function'
  if (s.check !== undefined && typeof s.check !== 'function') return 'check must be a function'
  if (s.reply === undefined && s.check === undefined) return 'needs reply(n, request) or check(reply, n, request)'
  if (s.reply !== undefined && s.check !== undefined) return 'give reply() or check(), not both'
  if (s.check !== undefined && framing === 'raw') return 'check() needs line or length framing (raw replies have no boundaries): give reply() instead'
  if (s.framing !== undefined && s.framing !== framing) return `written for ${String(s.framing)} framing, but the handler uses ${framing}`
  if (s.greeting !== undefined && typeof s.greeting !== 'string' && !(s.greeting instanceof Uint8Array)) return 'greeting must be a string or bytes'
  return undefined
}

/**
 * Imports a load script by absolute path and checks it; throws EPX_LOAD_SCRIPT. It loads like a
 * handler file (TypeScript, `@echoplex/*` imports from anywhere), in whichever thread runs the load.
 */
export async function loadLoadScript (path: string, framing: LoadFraming): Promise<LoadScript> {
  // loaded only when a script is used: the loader brings the handler-loading hooks with it
  const { importDefault } = await import('@echoplex/server')
  return await importDefault<LoadScript>(path, (v) => validateLoadScript(v, framing), (why) => errors.LOAD_SCRIPT(path, why), (why) => errors.LOAD_SCRIPT(path, why))
}

/**
 * Requests and replies from a load script. The engine numbers its requests 0, 1, 2 …; with several
 * load threads request `seq` of engine `index` is `n = index + seq × engines`, so `n` is unique in
 * the run and dense.
 */
export class ScriptRequests implements RequestSource {
  readonly greeting: Buffer | null
  /** request buffer → its n (check mode needs n again when the reply comes) */
  private readonly nOf = new WeakMap<Buffer, number>()

  constructor (
    private readonly script: LoadScript,
    readonly framing: LoadFraming,
    private readonly index = 0,
    private readonly engines = 1,
  ) {
    this.greeting = script.greeting === undefined ? null : toBuffer(script.greeting)
    if (this.greeting !== null && this.greeting.length === 0) this.greeting = null
  }

  private n (seq: number): number { return this.index + seq * this.engines }

  request (seq: number): Buffer {
    const n = this.n(seq)
    const req = framePayload(this.framing, toBuffer(this.script.request(n)))
    this.nOf.set(req, n)
    return req
  }

  expected (request: Buffer, seq: number): Buffer {
    if (this.script.reply === undefined) return request // check mode: the verifier checks against the request
    const n = this.n(seq)
    const reply = toBuffer(this.script.reply(n, Buffer.from(unframe(this.framing, request))))
    if (this.framing === 'raw' && reply.length === 0) throw new RangeError(`reply(${n}) is empty: with raw framing there would be nothing to wait for`)
    return framePayload(this.framing, reply)
  }

  batch (firstSeq: number, count: number): { wire: Buffer, expected: Buffer[] } {
    const reqs: Buffer[] = []
    const expected: Buffer[] = []
    for (let i = 0; i < count; i++) {
      const r = this.request(firstSeq + i)
      reqs.push(r)
      expected.push(this.expected(r, firstSeq + i))
    }
    return { wire: reqs.length === 1 ? reqs[0]! : Buffer.concat(reqs), expected }
  }

  verifier (capacity: number): Verifier {
    if (this.script.check === undefined) return new ReplyVerifier(capacity)
    return new FrameCheckVerifier(capacity, this.framing, this.script.check, (req) => this.nOf.get(req) ?? -1)
  }
}

/**
 * Check mode: decodes the reply stream with the framing and calls the script's `check` on each reply
 * frame, in order, with the request it answers. Reply bytes are counted with their framing.
 */
export class FrameCheckVerifier implements Verifier {
  private readonly reqs: Array<Buffer | undefined>
  private readonly starts: Float64Array
  private head = 0
  private size = 0
  private decoder
  private readonly over: number
  mismatch: string | null = null

  constructor (
    readonly capacity: number,
    private readonly framing: LoadFraming,
    private readonly check: NonNullable<LoadScript['check']>,
    private readonly nOf: (request: Buffer) => number,
  ) {
    this.reqs = new Array(capacity)
    this.starts = new Float64Array(capacity)
    this.over = framingOverhead(framing)
    this.decoder = this.newDecoder()
  }

  private newDecoder (): { push (chunk: Buffer): Buffer[] } {
    return codecFor(this.framing).decoder({ maxMessageBytes: 64 * 1024 * 1024, maxHeaderBytes: 64 * 1024 }) as { push (chunk: Buffer): Buffer[] }
  }

  get outstanding (): number { return this.size }
  get oldestStart (): number { return this.size > 0 ? this.starts[this.head]! : NaN }

  push (request: Buffer, start: number): void {
    if (this.size === this.capacity) throw new Error('FrameCheckVerifier: more requests in flight than its capacity')
    const i = (this.head + this.size) % this.capacity
    this.reqs[i] = request
    this.starts[i] = start
    this.size++
  }

  feed (chunk: Buffer, onComplete: (start: number, replyBytes: number) => void): boolean {
    let frames: Buffer[]
    try {
      frames = this.decoder.push(chunk)
    } catch (e) {
      this.mismatch = `the reply is not valid ${this.framing} framing: ${(e as Error).message}`
      return false
    }
    for (const frame of frames) {
      if (this.size === 0) {
        this.mismatch = `a reply arrived with no request outstanding: ${preview(frame)}`
        return false
      }
      const req = this.reqs[this.head]!
      const n = this.nOf(req)
      const payload = unframe(this.framing, req)
      let verdict: boolean | string
      try {
        verdict = this.check(frame, n, payload)
      } catch (e) {
        verdict = `check() threw: ${(e as Error)?.message ?? String(e)}`
      }
      if (verdict !== true) {
        this.mismatch = `request ${n} ${preview(payload)} got ${preview(frame)}${typeof verdict === 'string' ? `: ${verdict}` : ' (check() returned false)'}`
        return false
      }
      const start = this.starts[this.head]!
      this.reqs[this.head] = undefined
      this.head = (this.head + 1) % this.capacity
      this.size--
      onComplete(start, frame.length + this.over)
    }
    return true
  }

  clear (): number {
    const dropped = this.size
    this.reqs.fill(undefined)
    this.head = 0
    this.size = 0
    this.decoder = this.newDecoder()
    return dropped
  }
}
