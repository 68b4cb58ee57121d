/**
 * Registry of the peer servers in benchmarks/peers/: minimal echo servers written
 * without echoplex (Node net, Node http, C epoll, Python socketserver forking/threading) that run
 * in the same suites so every result can also be read as a ratio to them.
 *
 * Each peer takes its port as argv[1] (or env PORT; 0 = any free port), binds 127.0.0.1, prints
 * exactly one line `listening 127.0.0.1:<port> model=<name> pid=<pid>` when ready, and exits 0 on
 * SIGTERM/SIGINT.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { builtFrom, compileC, executableOnPath, findCCompiler, firstRunnable, noCompilerReason } from '@echoplex/core'
import { fileURLToPath } from 'node:url'
import { spawnServer, type RunningServer, type ServerSpec } from './runner/server.js'

/** benchmarks/peers/ of this repository (same from src/ and dist/). */
export const PEERS_DIR = fileURLToPath(new URL('../../../benchmarks/peers/', import.meta.url))
/** where compiled peers go (gitignored) */
export const PEERS_BIN_DIR = join(PEERS_DIR, 'bin')

export type PeerName = 'node-net' | 'node-http' | 'c-epoll' | 'py-forking' | 'py-threading'
/** what a peer can serve: a raw byte echo, or HTTP (200 with the request body echoed) */
export type PeerFraming = 'raw' | 'http'
export type Availability = { ok: true } | { ok: false, note: string }

export interface PeerCommand {
  command: string
  args: string[]
}

export interface Peer {
  name: PeerName
  /** the `model=` its listening line prints (same as name) */
  model: string
  framing: PeerFraming
  description: string
  /** absolute path of its source file */
  source: string
  /** true for peers that buildPeers() compiles */
  needsBuild: boolean
  /** the command line that starts it on `port` (0 = any free port) */
  command (port?: number): PeerCommand
  /** whether it can run here (interpreter/compiler present, build done) */
  available (): Availability
}

let pythonExe: string | null | undefined

/**
 * The python3 executable (or $PYTHON), resolved through sys.executable so a version-manager shim
 * (pyenv) is not part of the server's process tree; null when absent.
 */
export function findPython (): string | null {
  if (pythonExe !== undefined) return pythonExe
  const cands = [process.env.PYTHON, 'python3'].filter((c): c is string => c !== undefined && c !== '')
  const p = firstRunnable(cands)
  pythonExe = null
  if (p !== null) {
    try {
      const exe = execFileSync(p, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim()
      pythonExe = exe !== '' && executableOnPath(exe) !== null ? exe : p
    } catch { /* not runnable */ }
  }
  return pythonExe
}

const src = (file: string): string => join(PEERS_DIR, file)
const C_EPOLL_BIN = join(PEERS_BIN_DIR, 'c-epoll-echo')
const C_EPOLL_SRC = src('c-epoll-echo.c')

function nodePeer (name: PeerName, file: string, framing: PeerFraming, description: string): Peer {
  return {
    name,
    model: name,
    framing,
    description,
    source: src(file),
    needsBuild: false,
    command: (port = 0) => ({ command: process.execPath, args: [src(file), String(port)] }),
    available: () => existsSync(src(file)) ? { ok: true } : { ok: false, note: `missing ${src(file)}` },
  }
}

function pythonPeer (name: PeerName, file: string, description: string): Peer {
  return {
    name,
    model: name,
    framing: 'raw',
    description,
    source: src(file),
    needsBuild: false,
    command: (port = 0) => ({ command: findPython() ?? 'python3', args: [src(file), String(port)] }),
    available: () => findPython() === null
      ? { ok: false, note: 'skipped: python3 not found (set PYTHON to use another interpreter)' }
      : { ok: true },
  }
}

function cBuilt (): boolean {
  return builtFrom(C_EPOLL_BIN, C_EPOLL_SRC)
}

export const PEERS: readonly Peer[] = Object.freeze<Peer[]>([
  nodePeer('node-net', 'node-net-echo.mjs', 'raw', 'Node net echo: socket.pipe(socket), one event loop'),
  nodePeer('node-http', 'node-http-echo.mjs', 'http', 'node:http server echoing the request body, keep-alive'),
  {
    name: 'c-epoll',
    model: 'c-epoll',
    framing: 'raw',
    description: 'C, one thread, level-triggered epoll, non-blocking with buffered partial writes',
    source: C_EPOLL_SRC,
    needsBuild: true,
    command: (port = 0) => ({ command: C_EPOLL_BIN, args: [String(port)] }),
    available: () => {
      if (cBuilt()) return { ok: true }
      if (findCCompiler() === null) return { ok: false, note: `skipped: ${noCompilerReason()}` }
      return { ok: false, note: 'not built: run buildPeers() first' }
    },
  },
  pythonPeer('py-forking', 'python-forking-echo.py', 'Python socketserver.ForkingTCPServer: a process per connection'),
  pythonPeer('py-threading', 'python-threading-echo.py', 'Python socketserver.ThreadingTCPServer: a thread per connection'),
])

export function getPeer (name: string): Peer | undefined {
  return PEERS.find((b) => b.name === name)
}

export interface BuildResult {
  name: PeerName
  ok: boolean
  /** true when it could not be built here (no compiler) */
  skipped: boolean
  /** why it failed or was skipped, or 'up to date' */
  note?: string
  /** the binary */
  path?: string
}

export interface BuildOptions {
  /** rebuild even when the binary is newer than the source */
  force?: boolean
}

/**
 * Compiles the peers that need it (the C epoll echo, `cc -O2`) into benchmarks/peers/bin/.
 * Without a compiler the peer is reported as skipped; a compile error is reported, not thrown.
 */
export async function buildPeers (options: BuildOptions = {}): Promise<BuildResult[]> {
  const built = await compileC({ source: C_EPOLL_SRC, output: C_EPOLL_BIN, force: options.force })
  const result: BuildResult = built.ok
    ? { name: 'c-epoll', ok: true, skipped: false, path: built.path, ...(built.upToDate ? { note: 'up to date' } : {}) }
    : { name: 'c-epoll', ok: false, skipped: built.noCompiler, note: built.noCompiler ? `skipped: ${built.reason}` : built.reason }
  return [result]
}

export interface StartPeerOptions {
  /** default 0 (any free port) */
  port?: number
  /** how long to wait for the listening line; default 10000 ms */
  timeoutMs?: number
  /** extra environment */
  env?: Record<string, string>
}

/** How a peer is started: its command line, unbuffered (Python) so the listening line arrives at once. */
export function peerSpec (peer: Peer, port = 0, env: Record<string, string> = {}): ServerSpec {
  const { command, args } = peer.command(port)
  return { command, args, env: { ...env, PYTHONUNBUFFERED: '1' } }
}

/**
 * Starts a peer the way the runner starts every server (own process group, clean environment) and
 * waits for its listening line. Rejects (after killing it) when it is unavailable, exits early or
 * does not announce itself in time.
 */
export async function startPeer (peer: Peer | PeerName, options: StartPeerOptions = {}): Promise<RunningServer> {
  const p = typeof peer === 'string' ? getPeer(peer) : peer
  if (p === undefined) throw new Error(`unknown peer: ${String(peer)}`)
  const avail = p.available()
  if (!avail.ok) throw new Error(`peer ${p.name} unavailable: ${avail.note}`)
  return await spawnServer(peerSpec(p, options.port, options.env), p.name).ready(options.timeoutMs ?? 10_000)
}
