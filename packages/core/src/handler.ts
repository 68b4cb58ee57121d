/**
 * The handler interface: the one thing every concurrency model serves unchanged. A handler is a
 * module whose default export is `defineHandler({...})`; it is loaded by path in whichever process
 * or thread serves the connection, so it must not rely on state outside itself except `ctx.shared`.
 */
import type { HttpRequest, HttpResponse } from './framing/http.js'

export type Framing = 'raw' | 'line' | 'length' | 'http'
export const FRAMINGS: readonly Framing[] = ['raw', 'line', 'length', 'http']

/** What `onMessage` receives for each framing. */
export interface MessageOf {
  raw: Buffer
  line: Buffer
  length: Buffer
  http: HttpRequest
}

/**
 * What `onMessage` may return. Nothing (undefined/null) sends nothing. For `length` a reply is a payload
 * and gets its header added; for `http` a string/Buffer becomes a 200 body; for `raw`/`line` the bytes
 * are written as they are (a line handler adds its own `\n`).
 */
export type Reply = string | Uint8Array | null | undefined | void
export type ReplyOf<F extends Framing> = F extends 'http' ? Reply | HttpResponse : Reply

/** A server-wide key-value store hosted by the primary; every operation is atomic there. */
export interface SharedStore {
  get (key: string): Promise<SharedValue | undefined>
  set (key: string, value: SharedValue): Promise<void>
  /** Sets only when the key is absent; true when this call set it. */
  setIfAbsent (key: string, value: SharedValue): Promise<boolean>
  /** Deletes; true when the key existed. With `ifValue`, deletes only when the current value equals it. */
  delete (key: string, ifValue?: SharedValue): Promise<boolean>
  /** Adds `by` (default 1) to a number (absent counts as 0) and returns the new value. */
  incr (key: string, by?: number): Promise<number>
  keys (prefix?: string): Promise<string[]>
}
export type SharedValue = string | number | boolean | null

export interface ConnectionContext {
  /** Unique across the server's lifetime and processes: `<pid>-<seq>`. */
  readonly id: string
  readonly remoteAddress: string
  readonly remotePort: number | undefined
  /** The pid of the process serving this connection (for `pool`: the primary that owns the socket). */
  readonly pid: number
  readonly model: string
  /** Writes to this connection, framed like a reply, after every earlier reply. */
  send (data: string | Uint8Array): void
  /** Sends to every other connection of the server (across processes where the model has several). */
  broadcast (data: string | Uint8Array): void
  /** Closes this connection after the replies already queued have been written. */
  close (): void
  readonly shared: SharedStore
  /**
   * Per-connection scratch space, kept between messages of one connection. In `pool` it is copied to
   * the worker with each message and back, so keep it small and structured-clone-able.
   */
  state: Record<string, unknown>
}

/** An option a handler reads with `handlerOption` (`--option key=value`). */
export interface HandlerOptionSpec {
  description: string
  /** a reason when `value` is not acceptable (checked before the server starts), else undefined */
  check?: (value: string) => string | undefined
}

export interface HandlerDefinition<F extends Framing = Framing> {
  name: string
  framing: F
  /** the options it reads; when given, `--option` values are checked against it before serving */
  options?: Record<string, HandlerOptionSpec>
  onConnect? (ctx: ConnectionContext): void | Promise<void>
  onMessage (message: MessageOf[F], ctx: ConnectionContext): ReplyOf<F> | Promise<ReplyOf<F>>
  onClose? (ctx: ConnectionContext): void | Promise<void>
  /**
   * Whether this connection gets other connections' `ctx.broadcast`s now (default: every connection
   * does), e.g. only once logged in. Runs where the connection's socket is, synchronously (in `pool`:
   * the primary, with `ctx.state` as the last message left it).
   */
  receivesBroadcast? (ctx: ConnectionContext): boolean
}

export function defineHandler<F extends Framing> (definition: HandlerDefinition<F>): HandlerDefinition<F> {
  return definition
}

/** Checks a loaded module's default export; returns a reason when it is not a handler. */
export function validateHandler (value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return 'default export is not an object (use defineHandler)'
  const h = value as Partial<HandlerDefinition>
  if (typeof h.name !== 'string' || h.name === '') return 'missing a string "name"'
  if (!FRAMINGS.includes(h.framing as Framing)) return `"framing" must be one of ${FRAMINGS.join(', ')}`
  if (typeof h.onMessage !== 'function') return 'missing an "onMessage" function'
  if (h.options !== undefined && (h.options === null || typeof h.options !== 'object')) return '"options" must be an object of { description, check? }'
  for (const hook of ['onConnect', 'onClose', 'receivesBroadcast'] as const) {
    if (h[hook] !== undefined && typeof h[hook] !== 'function') return `"${hook}" must be a function`
  }
  return undefined
}

/** Why `given` (`--option` values) do not suit `handler`'s declared options, or undefined. */
export function checkHandlerOptions (handler: HandlerDefinition, given: Record<string, string>): string | undefined {
  const spec = handler.options
  if (spec === undefined) return undefined
  for (const [key, value] of Object.entries(given)) {
    const o = spec[key]
    if (o === undefined) return `${key}: handler ${handler.name} has no such option (it has: ${Object.keys(spec).join(', ') || 'none'})`
    const why = o.check?.(value)
    if (why !== undefined) return `${key}=${value}: ${why}`
  }
  return undefined
}
