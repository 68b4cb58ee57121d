import { Socket } from 'node:net'
import { constants } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileC, nativeBinDir, type Connection } from '@echoplex/core'
import type { Accept, SocketSource } from './socket-source.js'

/** The addon's C source (same path from src/sources and dist/sources). */
export const KERNEL_ACCEPT_SOURCE = fileURLToPath(new URL('../../native/kernel-accept.c', import.meta.url))
/**
 * How long a child's waiting accept sleeps before it looks whether it should stop: the longest an
 * idle child takes to leave when it is asked to.
 */
export const ACCEPT_POLL_MS = 100

/** What an accept ended by cancelAccepts() returns (negated), and one that found nothing waiting. */
const { ECANCELED, EAGAIN } = constants.errno

/** The socket of an accepted descriptor (replies owed after the client's FIN must still go out). */
const socketOf = (fd: number): Socket => new Socket({ fd, allowHalfOpen: true, readable: true, writable: true })

/** What native/kernel-accept.c exports (see its header). Negative numbers are -errno. */
export interface KernelAcceptAddon {
  prepare (fd: number, timeoutMs: number): number
  dup (fd: number): number
  close (fd: number): number
  queued (fd: number): number
  /** A connection waiting in the queue, taken on this thread; -EAGAIN when none waits. */
  acceptNow (fd: number): number
  /** Waits for one on a threadpool thread; once = 1: -EAGAIN when none came within the wait, instead of waiting on */
  acceptOne (fd: number, once?: number): Promise<number>
  cancelAccepts (): void
  peerClosed (fd: number): number
  boardCreate (bytes: number): number
  boardMap (fd: number, bytes: number): ArrayBuffer
  /** The kernel sends `signal` to this process when its parent dies (PR_SET_PDEATHSIG); the parent's pid then, or -errno. */
  parentDeath (signal: number): number
  /** fork() of this warm process (the zygote): the child's pid here, 0 in the child, or -errno. */
  warmFork (): number
  /** _exit(): a forked child cannot leave through Node's exit (it joins threads the child does not have). */
  exitNow (code: number): never
  /** A child that ended, as [pid, exit code, signal number] (-1: not how it ended); undefined when none did. */
  reap (): [number, number, number] | undefined
  /** Reaps every ended child but `keep` (one libuv will reap); how many it reaped. */
  reapOrphans (keep: number): number
  /** Two connected UNIX stream sockets, close-on-exec; or -errno. */
  socketPair (): [number, number] | number
  /** Orphaned descendants are reparented to this process (PR_SET_CHILD_SUBREAPER); 0 or -errno. */
  subreaper (): number
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
 * A fork child's own accept from the listening socket it inherited (httpd prefork): `next()` takes a
 * connection already waiting in the queue at once, or else waits for one on a threadpool thread (the
 * kernel wakes one waiting child per connection; busy children are never woken). The child asks
 * for a connection only when it has none, so two connections never share it.
 */
export class KernelAcceptSource implements SocketSource {
  private accept: Accept | undefined
  private closed = false
  private pending: Promise<Socket | undefined> | undefined

  /** `onError`: an accept failed for lack of descriptors or memory (it is retried shortly). */
  constructor (private readonly addon: KernelAcceptAddon, private readonly fd: number, private readonly onError: (errno: number) => void = () => {}) {
    // this process's waits look for a cancel every ACCEPT_POLL_MS (the socket is already non-blocking)
    addon.prepare(fd, ACCEPT_POLL_MS)
  }

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
   * and is owed an answer), or undefined when none waits. Works after close().
   */
  takeQueued (): Socket | undefined {
    const fd = this.addon.acceptNow(this.fd)
    return fd >= 0 ? socketOf(fd) : undefined
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
      // under load the next connection already waits: taken here, with no thread to wake
      const now = this.addon.acceptNow(this.fd)
      if (now >= 0) return socketOf(now)
      const fd = now === -EAGAIN ? await this.addon.acceptOne(this.fd) : now
      if (fd >= 0) return socketOf(fd)
      if (this.closed || fd === -ECANCELED) return undefined
      // out of descriptors or memory: wait a moment instead of spinning
      this.onError(-fd)
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_POLL_MS))
    }
  }
}
