/**
 * `echoplex dashboard`: starts the dashboard (packages/dashboard, the fastify app that
 * `fastify start packages/dashboard/dist/app.js` loads) in this process. Ctrl+C / SIGTERM stops it,
 * and with it any suite run it started (its server is stopped, partial results are written).
 */
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { Command } from 'commander'
import { errors, exitProcess } from '@echoplex/core'
import { startDashboard } from '@echoplex/dashboard'
import { RESULTS_DIR } from '@echoplex/results'
import { isLoopback } from '@echoplex/core'
import { parsePort } from '../parse.js'

interface DashboardFlags { port: number, host: string, results?: string, suites?: string, logLevel: string }

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function folder (flag: string, value: string): string {
  const dir = resolve(value)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw errors.BAD_OPTION(flag, `no such folder: ${value}`)
  return dir
}

export function dashboardCommand (): Command {
  return new Command('dashboard')
    .description('start the web dashboard: browse results and reports, compare runs, run suites with live progress, watch a server\'s process tree')
    .option('-p, --port <n>', 'TCP port (0 = any free port)', parsePort, 3000)
    .option('--host <host>', 'address to bind (anything but loopback prints a warning: the dashboard can start processes)', '127.0.0.1')
    .option('--results <dir>', `results folder (default ${RESULTS_DIR})`)
    .option('--suites <dir>', 'folder of suite files that runs started from the dashboard pick from (default benchmarks/suites)')
    .option('--log-level <level>', `request log level on stdout (${LOG_LEVELS.join(', ')})`, 'warn')
    .action(async (flags: DashboardFlags) => { await dashboard(flags) })
}

async function dashboard (flags: DashboardFlags): Promise<void> {
  if (!LOG_LEVELS.includes(flags.logLevel)) throw errors.BAD_OPTION('--log-level', `expected one of ${LOG_LEVELS.join(', ')}`)
  const resultsDir = flags.results === undefined ? RESULTS_DIR : folder('--results', flags.results)
  const suitesDir = flags.suites === undefined ? undefined : folder('--suites', flags.suites)
  if (!isLoopback(flags.host)) {
    process.stderr.write(`echoplex: warning: binding the dashboard to ${flags.host}: anyone who can reach it can read results and start benchmark runs\n`)
  }
  let running: { url: string, close (): Promise<void> }
  try {
    running = await startDashboard({ host: flags.host, port: flags.port, resultsDir, logLevel: flags.logLevel, bindWarning: false, ...(suitesDir === undefined ? {} : { suitesDir }) })
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const address = `${flags.host}:${flags.port}`
    if (err.code === 'EADDRINUSE') throw errors.ADDRESS_IN_USE(address)
    if (err.code === 'EACCES') throw errors.ADDRESS_DENIED(address)
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw errors.BAD_OPTION('--host', `cannot bind ${flags.host} (${err.code})`)
    throw e
  }
  process.stdout.write(`dashboard ${running.url}/ results=${resultsDir} pid=${process.pid}\n`)
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`echoplex: ${signal} again, exiting now\n`)
      exitProcess(1)
    }
    stopping = true
    running.close().then(() => exitProcess(0), (e: unknown) => {
      process.stderr.write(`echoplex: stopping the dashboard failed: ${(e as Error).message}\n`)
      exitProcess(1)
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
