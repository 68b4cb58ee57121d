import { writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Logger as PinoLogger } from 'pino'

/** The slice of pino echoplex uses. */
export type Logger = Pick<PinoLogger, 'fatal' | 'error' | 'warn' | 'info' | 'debug'>

const LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const
type Level = keyof typeof LEVELS
const require = createRequire(import.meta.url)
const noop = (): void => {}

/** How log lines look: `json` (pino's lines, for machines) or `pretty` (pino-pretty, for people). */
export const LOG_FORMATS = ['json', 'pretty'] as const
export type LogFormat = typeof LOG_FORMATS[number]

/**
 * Logs go to stderr so stdout stays machine-readable (the `listening` line, tables). Level from
 * ECHOPLEX_LOG_LEVEL (default `warn`) and format from ECHOPLEX_LOG_FORMAT (default `json`), both
 * inherited by every child process and worker thread.
 *
 * pino is loaded on the first message that passes the level, not at import: it is a fifth of a fork
 * child's boot, and most processes never log at all.
 */
export function createLogger (bindings: Record<string, unknown> = {}): Logger {
  const level = (process.env.ECHOPLEX_LOG_LEVEL ?? 'warn') as Level
  const threshold = LEVELS[level] ?? LEVELS.warn
  let pino: Logger | undefined
  const real = (): Logger => {
    if (pino === undefined) {
      try {
        const { pino: create, destination } = require('pino') as typeof import('pino')
        const stream = process.env.ECHOPLEX_LOG_FORMAT === 'pretty' ? prettyStream() : destination({ fd: 2, sync: true })
        pino = create({ level: LEVELS[level] === undefined ? 'warn' : level, base: { pid: process.pid, ...bindings } }, stream)
      } catch {
        // loading needs free descriptors, and running out of them is one of the things worth logging
        pino = fallbackLogger({ pid: process.pid, ...bindings })
      }
    }
    return pino
  }
  const method = (name: keyof Logger): Logger[keyof Logger] =>
    (LEVELS[name] >= threshold ? (...args: unknown[]) => { (real()[name] as (...a: unknown[]) => void)(...args) } : noop) as Logger[keyof Logger]
  return { fatal: method('fatal'), error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') }
}

/**
 * Human lines on stderr, written synchronously like the JSON ones (a process that exits right after
 * logging still shows the line); colours only when stderr is a terminal that takes them.
 */
function prettyStream (): NodeJS.WritableStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty')
  const build = (pretty as unknown as { default?: typeof pretty }).default ?? pretty
  return build({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true && process.stderr.hasColors?.() === true,
    ignore: 'hostname',
    translateTime: 'SYS:HH:MM:ss.l',
    // a handler error's stack as it reads in a terminal: one frame a line
    customPrettifiers: { stack: (value: unknown) => String(value).replace(/\n/g, '\n    ') },
  })
}

/** pino's line format, written directly: used only when pino itself cannot be loaded. */
function fallbackLogger (bindings: Record<string, unknown>): Logger {
  const write = (name: keyof Logger) => (objOrMsg: unknown, msg?: string): void => {
    const fields = typeof objOrMsg === 'object' && objOrMsg !== null ? objOrMsg : { msg: objOrMsg }
    const line = JSON.stringify({ level: LEVELS[name], time: Date.now(), ...bindings, ...fields, ...(msg === undefined ? {} : { msg }) })
    try { writeSync(2, line + '\n') } catch {}
  }
  return { fatal: write('fatal'), error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') } as unknown as Logger
}
