/** Safe defaults every model applies unless told otherwise (see DESIGN.md, "Defaults are safe"). */
export interface ServerLimits {
  /** Open connections beyond this are refused (closed at once) by the listener. */
  maxConnections: number
  /** Largest line / frame payload / HTTP body accepted. */
  maxMessageBytes: number
  /** Largest HTTP request head. */
  maxHeaderBytes: number
  /** A connection with no traffic either way for this long is closed. 0 disables. */
  idleTimeoutMs: number
  /** A started message (partial line, frame or request) must complete within this; stops slowloris. 0 disables. */
  frameTimeoutMs: number
  /** Decoded messages waiting for the handler, per connection, before reading from it pauses. */
  maxQueuedMessages: number
  /**
   * Unsent bytes one connection may hold. Replies pause reading much earlier (at the socket's high-water
   * mark); this caps pushes the connection did not ask for (broadcasts to a client that never reads).
   */
  maxWriteBufferBytes: number
  /** How long a graceful stop waits for in-flight messages before closing what is left. */
  graceMs: number
  /**
   * Bytes all connections together may hold in incomplete messages (partial lines, frames, HTTP
   * requests), server-wide; past it the connection holding the most is closed. Multi-process models
   * give each serving process its share.
   */
  maxBufferedBytes: number
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 10_000,
  maxMessageBytes: 8 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  idleTimeoutMs: 120_000,
  frameTimeoutMs: 30_000,
  maxQueuedMessages: 256,
  maxWriteBufferBytes: 8 * 1024 * 1024,
  graceMs: 10_000,
  // 64 messages of the largest size at once: the default --max-message × fork's default --max-children
  maxBufferedBytes: 512 * 1024 * 1024,
}
