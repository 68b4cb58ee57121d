import { Socket } from 'node:net'
import { constants } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileC, nativeBinDir, type Connection } from '@echoplex/core'
import type { Accept, SocketSource } from './socket-source.js'

/** The addon's C source (same path from src/sources and dist/sources). */
export const KERNEL_ACCEPT_SOURCE = fileURLToPath(new URL('../../native/kernel-accept.c', import.meta.url))
/**
 * How long a child's blocked accept() sleeps before it looks whether it should stop (SO_RCVTIMEO):
 * the longest an idle child takes to leave when it is asked to.
 */
export const ACCEPT_POLL_MS = 100

/** What an accept ended by cancelAccepts() returns (negated). */
const { ECANCELED } = constants.errno

/** What native/kernel-accept.c exports (see its header). Negative numbers are -errno. */
export interface KernelAcceptAddon {
  prepare (fd: number, timeoutMs: number): number
  dup (fd: number): number
  close (fd: number): number
  queued (fd: number): number
  /** once = 1: -EAGAIN when nothing came within the receive timeout, instead of waiting on */
  acceptOne (fd: number, once?: number): Promise<number>
  cancelAccepts (): void
  peerClosed (fd: number): number
  boardCreate (bytes: number): number
  boardMap (fd: number, bytes: number): ArrayBuffer
}

export type KernelAcceptBuild = { ok: true, path: string } | { ok: false, reason: string }

let building: Promise<KernelAcceptBuild> | undefined

/**
 * Compiles the addon with the system C compiler if it is not built yet (once per process; a failure
 * is retried next time, so a compiler installed later is found). Never rejects.
 */
export async function buildKernelAccept (): Promise<KernelAcceptBuild> {
  if (process.platform !== 'linux') return { ok: false, reason: `kernel accept is built for Linux (this is ${process.platform})` }
  building ??= compileC({
    source: KERNEL_ACCEPT_SOURCE,
    output: join(nativeBinDir(fileURLToPath(new URL('../../native/bin/', import.meta.url))), 'kernel-accept.node'),
    flags: ['-O2', '-Wall', '-shared', '-fPIC'],
  }).then((r) => {
    if (!r.ok) { building = undefined; return { ok: false, reason: r.reason } }
    try {
      loadKernelAccept(r.path)
      return { ok: true, path: r.path }
    } catch (err) {
      building = undefined
      return { ok: false, reason: `the addon does not load: ${(err as Error).message}` }
    }
  })
  return await building
}

/** Why kernel accept cannot run here (no C compiler, not Linux…), or undefined when it can. */
export async function kernelAcceptUnavailable (): Promise<string | undefined> {
  const built = await buildKernelAccept()
  return built.ok ? undefined : built.reason
}

const loaded = new Map<string, KernelAcceptAddon>()

/** Loads the built addon (process.dlopen: no require, so the bundled child can do it too). */
export function loadKernelAccept (path: string): KernelAcceptAddon {
  let addon = loaded.get(path)
  if (addon === undefined) {
    const module = { exports: {} as KernelAcceptAddon }
    process.dlopen(module, path)
    loaded.set(path, addon = module.exports)
  }
  return addon
}

/**
 * A fork child's own accept from the listening socket it inherited (httpd prefork): `next()` blocks a
 * threadpool thread in accept() while this process is idle, so the kernel gives each connection to
 * exactly one waiting child and busy children are never woken. The child asks for a connection only
 * when it has none, so two connections never share it.
 */
export class KernelAcceptSource implements SocketSource {
  private accept: Accept | undefined
  private closed = false
  private pending: Promise<Socket | undefined> | undefined

  /** `onError`: an accept failed for lack of descriptors or memory (it is retried shortly). */
  constructor (private readonly addon: KernelAcceptAddon, private readonly fd: number, private readonly onError: (errno: number) => void = () => {}) {}

  async open (accept: Accept): Promise<undefined> {
    this.accept = accept
    return undefined
  }

  /** The next connection the kernel gives this process; undefined once paused or closed meanwhile. */
  async next (): Promise<Socket | undefined> {
    if (this.closed) return undefined
    this.pending ??= this.acceptOne().finally(() => { this.pending = undefined })
    return await this.pending
  }

  /** Resolves once no accept is in flight; a connection it took meanwhile went to next()'s caller. */
  async settled (): Promise<void> {
    await this.pending
  }

  /** Serves an accepted socket; undefined when the server refused it. */
  async take (socket: Socket): Promise<Connection | undefined> {
    if (this.accept === undefined) { socket.destroy(); return undefined }
    return await this.accept(socket)
  }

  /**
   * While the child stops: one connection still in the kernel's queue (it completed before the stop
   * and is owed an answer), or undefined when none came within ACCEPT_POLL_MS. Works after close().
   */
  async takeQueued (): Promise<Socket | undefined> {
    if (this.addon.queued(this.fd) <= 0) return undefined
    const fd = await this.addon.acceptOne(this.fd, 1)
    return fd >= 0 ? new Socket({ fd, allowHalfOpen: true, readable: true, writable: true }) : undefined
  }

  /** Ends the accept in flight (within ACCEPT_POLL_MS; with a connection, if one came first). */
  pause (): void {
    this.addon.cancelAccepts()
  }

  /** Takes no more connections. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.pause()
  }

  private async acceptOne (): Promise<Socket | undefined> {
    for (;;) {
      const fd = await this.addon.acceptOne(this.fd)
      if (fd >= 0) return new Socket({ fd, allowHalfOpen: true, readable: true, writable: true })
      if (this.closed || fd === -ECANCELED) return undefined
      // out of descriptors or memory: wait a moment instead of spinning
      this.onError(-fd)
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_POLL_MS))
    }
  }
}
