import { InvalidArgumentError } from 'commander'

/** Value parsers for commander: each throws a one-line InvalidArgumentError on bad input. */

export function parseInteger (min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number${min > 0 ? ` ≥ ${min}` : ''}`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}`)
    return n
  }
}

export const parsePort = parseInteger(0, 65535)

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 }

/** `4096`, `64KiB`, `8m` → bytes. */
export function parseSize (value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim())
  const unit = match === null ? undefined : SIZE_UNITS[match[2]!.toLowerCase()]
  if (match === null || unit === undefined) throw new InvalidArgumentError('expected a size such as 4096, 64KiB or 8MiB')
  const bytes = Math.floor(Number(match[1]) * unit)
  if (bytes < 1) throw new InvalidArgumentError('expected a size of at least 1 byte')
  return bytes
}

const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000 }

/** `500`, `500ms`, `30s`, `2m` → milliseconds. */
export function parseDuration (value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim())
  const unit = match === null ? undefined : TIME_UNITS[match[2]!.toLowerCase()]
  if (match === null || unit === undefined) throw new InvalidArgumentError('expected a duration such as 500ms, 30s or 2m')
  return Math.round(Number(match[1]) * unit)
}

/** Repeated `--option key=value` into one record. */
export function collectKeyValue (value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError('expected key=value')
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) }
}

/** Bytes as a size a user would type back: `8MiB`, `16KiB`, `512` (exact units only). */
export function formatSize (bytes: number): string {
  for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`
  }
  return String(bytes)
}

/** Milliseconds as a duration a user would type back: `2m`, `120s`, `500ms`, `0`. */
export function formatDurationFlag (ms: number): string {
  if (ms === 0) return '0'
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

/** Repeated or variadic values, each possibly a comma/space-separated list, into one array. */
export function collectList (value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/[\s,]+/).filter((v) => v !== '')]
}
