/**
 * Where a server leaves its stats for other processes: on SIGUSR2 `echoplex serve` prints a `stats`
 * line on stdout (for whoever started it) and writes the same JSON here (for whoever did not: the
 * dashboard's live view, which reads it back). One file per server pid, replaced atomically, removed
 * when the server exits.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface StatsFile {
  /** when the stats were taken (ms since the epoch) */
  at: number
  stats: Record<string, unknown>
}

export function statsDir (): string {
  return join(tmpdir(), `echoplex-${process.getuid?.() ?? 'user'}`)
}

export function statsFilePath (pid: number, dir = statsDir()): string {
  return join(dir, `stats-${pid}.json`)
}

/** Writes `stats` for server `pid` (never throws: stats are a courtesy). */
export function writeStatsFile (pid: number, stats: Record<string, unknown>, dir = statsDir()): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const path = statsFilePath(pid, dir)
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify({ at: Date.now(), stats } satisfies StatsFile))
    renameSync(tmp, path)
  } catch { /* a read-only or full tmp: the stdout line still went out */ }
}

export function readStatsFile (pid: number, dir = statsDir()): StatsFile | null {
  try {
    const v = JSON.parse(readFileSync(statsFilePath(pid, dir), 'utf8')) as StatsFile
    return typeof v?.at === 'number' && v.stats !== null && typeof v.stats === 'object' ? v : null
  } catch {
    return null
  }
}

export function removeStatsFile (pid: number, dir = statsDir()): void {
  try { rmSync(statsFilePath(pid, dir), { force: true }) } catch { /* nothing to clean */ }
}
