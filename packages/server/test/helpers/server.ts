import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
export const ECHOPLEX_BIN = fileURLToPath(new URL('../../../cli/bin/echoplex.js', import.meta.url))
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
export function serverEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key.startsWith('TAP') || key.startsWith('_TAPJS') || key.startsWith('TS_NODE')) continue
    env[key] = value
  }
  return { ...env, ...extra }
}

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
  const child = spawn(command, commandArgs, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: serverEnv(env),
    cwd: REPO_ROOT,
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid!, 'SIGKILL') } catch {}
      await exited
    } else {
      // the primary is gone; make sure nothing of its group is left either
      try { process.kill(-child.pid!, 'SIGKILL') } catch {}
    }
  })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms: ${err.trim()}`)), timeoutMs)
    const check = (): void => {
      const m = /^listening .*$/m.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[0]) }
    }
    child.stdout!.on('data', check)
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening: ${err.trim()}`)) })
  })
  const m = /^listening (\S+) model=(\S+) pid=(\d+)$/.exec(line)
  if (m === null) throw new Error(`bad listening line: ${line}`)
  const address = m[1]!
  const port = Number(/:(\d+)$/.exec(address)?.[1] ?? 0)
  return {
    port,
    pid: Number(m[3]),
    address,
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
