import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import { existsSync, lstatSync, statSync, unlinkSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { errors } from '@echoplex/core'
import type { ListenTarget } from './model.js'

export function formatTarget (target: ListenTarget): string {
  if ('path' in target) return `unix:${target.path}`
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
}

export function formatAddress (server: Server, target: ListenTarget): string {
  const addr = server.address()
  if (addr === null || typeof addr === 'string' || 'path' in target) return formatTarget(target)
  return formatTarget({ host: (addr as AddressInfo).address, port: (addr as AddressInfo).port })
}

export { isLoopback } from '@echoplex/core'

/** True when something accepts connections on the UNIX socket at `path`. */
function socketIsLive (path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
}

/**
 * A socket file left by a dead server is removed; a live one is never stolen. Anything that is not
 * a socket is left alone too (listen then fails with EADDRINUSE, reported as such).
 */
export async function clearStaleSocket (path: string): Promise<void> {
  if (!existsSync(path)) return
  if (!lstatSync(path).isSocket()) return
  if (await socketIsLive(path)) throw errors.SOCKET_IN_USE(path)
  unlinkSync(path)
}

/** Why the folder a UNIX socket would be created in cannot hold it (missing, not a directory), or null. */
export function missingFolder (path: string): string | null {
  const dir = dirname(resolve(path))
  if (!existsSync(dir)) return `directory ${dir} does not exist`
  if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
  return null
}

/**
 * Listens and maps the usual failures to one-line errors with stable codes. `reusePort`: a socket of
 * its own that shares the port with others bound the same way (SO_REUSEPORT; see reuse-port.ts).
 */
export async function listen (server: Server, target: ListenTarget, { backlog = 511, exclusive = true, reusePort = false } = {}): Promise<string> {
  // a cluster worker's socket path is the primary's to check: it owns the handle
  if ('path' in target && exclusive) await clearStaleSocket(target.path)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = formatTarget(target)
      // binding in a folder that is not there reads as EACCES/ENOENT: say what is missing
      const folder = 'path' in target ? missingFolder(target.path) : null
      if (folder !== null) reject(errors.LISTEN_FAILED(where, folder))
      else if (err.code === 'EADDRINUSE') reject(errors.ADDRESS_IN_USE(where))
      else if (err.code === 'EACCES' || err.code === 'EPERM') reject(errors.ADDRESS_DENIED(where))
      else reject(errors.LISTEN_FAILED(where, err.code ?? err.message))
    }
    server.once('error', onError)
    const done = (): void => { server.off('error', onError); resolve() }
    if ('path' in target) server.listen({ path: target.path, backlog, exclusive }, done)
    else server.listen({ host: target.host, port: target.port, backlog, exclusive, ...(reusePort ? { reusePort } : {}) }, done)
  })
  return formatAddress(server, target)
}

/**
 * A port the OS has free on `host` now (listen on 0, read, close). For cluster, whose shared sockets
 * are keyed by the port asked for: workers that asked for port 0 share a socket only while one of
 * them lives, and a replacement asking 0 after that would bind a different port.
 */
export async function pickFreePort (host: string): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen({ host, port: 0, exclusive: true }, () => resolve())
  }).catch((err: NodeJS.ErrnoException) => { throw errors.LISTEN_FAILED(formatTarget({ host, port: 0 }), err.code ?? err.message) })
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}
