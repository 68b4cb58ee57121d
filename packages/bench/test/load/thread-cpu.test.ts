import t from 'tap'
import { readFileSync } from 'node:fs'
import { threadCpuSeconds } from '../../src/load/thread-cpu.js'
import { parseStat, procSysConf } from '@echoplex/proc'

t.test('thread CPU: this thread\'s /proc times in the sampler\'s CLK_TCK unit', async (t) => {
  const before = threadCpuSeconds(procSysConf().clockTicks)
  t.ok(before !== null)
  const cpu0 = process.cpuUsage()
  // burn 0.3 s of CPU on this thread (bounded in wall time: the machine may be busy)
  const until = Date.now() + 10_000
  let x = 0
  while (Date.now() < until) {
    for (let i = 0; i < 1e5; i++) x += Math.sqrt(x + i)
    const u = process.cpuUsage(cpu0)
    if (u.user + u.system >= 300_000) break
  }
  t.ok(x > 0)
  const after = threadCpuSeconds(procSysConf().clockTicks)!
  const cpu = process.cpuUsage(cpu0)
  const used = (after.userSec + after.systemSec) - (before!.userSec + before!.systemSec)
  const tick = 1 / procSysConf().clockTicks
  t.ok(used >= 0.2, `thread used ${used} s of a 0.3 s CPU burn`)
  // the process (all threads together) used at least what this thread did, up to one tick of rounding each side
  t.ok(used <= (cpu.user + cpu.system) / 1e6 + 2 * tick, `thread ${used} s <= process ${(cpu.user + cpu.system) / 1e6} s`)
  // the same reading as the sampler's parser on the same file
  const stat = parseStat(readFileSync('/proc/thread-self/stat', 'latin1'))!
  const now = threadCpuSeconds(procSysConf().clockTicks)!
  // compared in whole ticks (a difference of one tick in seconds is not exact in floating point): the
  // sampler's reading comes after the file's, so it is the same or one tick on
  const ticksLater = Math.round((now.userSec - stat.utime * tick) / tick)
  t.ok(ticksLater === 0 || ticksLater === 1, `the sampler read ${ticksLater} tick(s) after the file`)
})
