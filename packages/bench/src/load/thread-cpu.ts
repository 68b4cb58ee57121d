/**
 * The load generator's own CPU: the calling thread's user and system time, read with the same /proc
 * parser and the same CLK_TCK as the process sampler, so the two are in one unit.
 */
import { readFileSync } from 'node:fs'
import { parseStat, procSysConf } from '../proc/procfs.js'

/** Reads CLK_TCK now (it runs `getconf` once per thread), so that the first reading costs no more than the next. */
export function prepareThreadCpu (): void {
  procSysConf()
}

/** User and system CPU seconds of the calling thread, or null off Linux. */
export function threadCpuSeconds (): { userSec: number, systemSec: number } | null {
  let text: string
  try {
    text = readFileSync('/proc/thread-self/stat', 'latin1')
  } catch {
    return null
  }
  const stat = parseStat(text)
  if (stat === null || !Number.isFinite(stat.utime) || !Number.isFinite(stat.stime)) return null
  const { clockTicks } = procSysConf()
  return { userSec: stat.utime / clockTicks, systemSec: stat.stime / clockTicks }
}
