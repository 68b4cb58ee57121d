import { pino, destination, type Logger } from 'pino'

export type { Logger }

/**
 * Logs go to stderr so stdout stays machine-readable (the `listening` line, tables). Level from
 * ECHOPLEX_LOG_LEVEL, inherited by every child process and worker thread of a server.
 */
export function createLogger (bindings: Record<string, unknown> = {}): Logger {
  const level = process.env.ECHOPLEX_LOG_LEVEL ?? 'warn'
  return pino({ level, base: { pid: process.pid, ...bindings } }, destination({ fd: 2, sync: true }))
}
