/**
 * The load generator's own CPU: the calling thread's user and system time, read with the same /proc
 * parser and in the same CLK_TCK as the process sampler, so the two are in one unit.
 */
import { readFileSync } from 'node:fs'
import { parseStat } from '@echoplex/proc'

/**
 * User and system CPU seconds of the calling thread, or null off Linux. `clockTicks` is
 * `procSysConf().clockTicks`, passed in because a worker thread would otherwise run its own `getconf`.
 */
export function threadCpuSeconds (clockTicks: number): { userSec: number, systemSec: number } | null {
  let text: string
  try {
    text = readFileSync('/proc/thread-self/stat', 'latin1')
  } catch {
    return null
  }
  const stat = parseStat(text)
  if (stat === null || !Number.isFinite(stat.utime) || !Number.isFinite(stat.stime)) return null
  return { userSec: stat.utime / clockTicks, systemSec: stat.stime / clockTicks }
}
