import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
// the one server launcher (process group, listening line, group kill) is bench's; tests run it from source
import { ECHOPLEX_BIN, LaunchError, cleanEnv, spawnServer } from '../../../bench/src/runner/server.js'

export { ECHOPLEX_BIN }
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url))

export interface RunningServer {
  port: number
  pid: number
  address: string
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Sends a signal and resolves with the exit code (or the signal name). */
  stop: (signal?: NodeJS.Signals) => Promise<number | string>
  exited: Promise<number | string>
}

/**
 * The environment for a server under test: tap's own NODE_OPTIONS hooks (process tracking, loaders)
 * must not ride into the server and its children — they would measure and alter what we test.
 */
export const serverEnv = cleanEnv

interface Teardown { teardown: (fn: () => unknown) => void }

/**
 * Starts `echoplex serve` in its own process group and waits for its `listening` line. The group is
 * killed in teardown whatever happens, so no server outlives its test.
 */
export async function startServer (t: Teardown, args: string[], { timeoutMs = 20_000, env = {}, maxFiles }: { timeoutMs?: number, env?: Record<string, string>, maxFiles?: number } = {}): Promise<RunningServer> {
  const argv = [ECHOPLEX_BIN, 'serve', '--port', '0', ...args]
  // with maxFiles, a shell lowers the descriptor limit and execs node: same pid, same process group
  const [command, commandArgs] = maxFiles === undefined
    ? [process.execPath, argv]
    : ['/bin/sh', ['-c', `ulimit -n ${maxFiles} && exec "$0" "$@"`, process.execPath, ...argv]]
  const server = spawnServer({ command, args: commandArgs, env, cwd: REPO_ROOT }, 'test')
  const child = server.child
  // the whole output, not the launcher's tail: tests count `stats` lines in it
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: string) => { out += d })
  child.stderr!.on('data', (d: string) => { err += d })
  const exited = server.exited.then(({ code, signal }) => code ?? signal ?? -1)
  t.teardown(async () => {
    // the primary and anything left of its group
    server.kill()
    await exited
  })
  try {
    await server.ready(timeoutMs)
  } catch (e) {
    if (!(e instanceof LaunchError)) throw e
    throw new Error(`server ${e.message}${err.trim() === '' ? '' : `\n${err.trim()}`}`)
  }
  return {
    port: server.port,
    pid: server.pid,
    address: server.address,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    },
  }
}

/** Runs `echoplex <args>` to completion (for CLI error cases). */
export async function runCli (args: string[], timeoutMs = 15_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [ECHOPLEX_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: serverEnv() })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** The model's own stats, through SIGUSR2 (the server prints one `stats {json}` line on stdout). */
export async function modelStats (server: RunningServer, timeoutMs = 5000): Promise<Record<string, any>> {
  const lines = (): string[] => server.stdout().split('\n').filter((l) => l.startsWith('stats '))
  const seen = lines().length
  process.kill(server.pid, 'SIGUSR2')
  const deadline = Date.now() + timeoutMs
  while (lines().length <= seen) {
    if (Date.now() > deadline) throw new Error('no stats line')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const all = lines()
  return JSON.parse(all[all.length - 1]!.slice('stats '.length)) as Record<string, any>
}
