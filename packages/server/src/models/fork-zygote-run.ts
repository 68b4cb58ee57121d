import { readlinkSync } from 'node:fs'
import { Socket } from 'node:net'
import { constants } from 'node:os'
import { describeError, errors, isEchoplexError, type HandlerDefinition } from '@echoplex/core'
import { loadHandler } from '../handler-loader.js'
import { ipcChannel, type Channel } from '../ipc/channel.js'
import { dieWithParent } from '../ipc/parent-death.js'
import { Peer } from '../ipc/peer.js'
import { PARENT_DEATH_ENV, type ChildConfig, type PrimaryToZygote, type ZygoteToPrimary } from '../ipc/protocol.js'
import { streamChannel } from '../ipc/stream-channel.js'
import { loadKernelAccept, type KernelAcceptAddon } from '../sources/kernel-accept.js'

/** What a child forked from the zygote starts with: its channel to the primary, and its connection. */
export interface Born {
  channel: Channel
  socket: Socket
  preread?: Uint8Array
  /** the handler as the zygote loaded it: a child loads no module (a loader thread, module hooks', it would not have) */
  handler: HandlerDefinition
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]))

/**
 * The zygote of strict fork (`--child-boot zygote`): one warm process, booted once with the handler
 * loaded, that fork()s a child for each connection the primary sends it — the seeds' fork() server and
 * Python's ForkingMixIn, where a child costs a fork, not a Node boot. The child is a copy of this
 * process at that instant: the connection's socket it holds, the handler as the zygote loaded it (a
 * handler's module-level state is what it was then, and never flows back). It gets a socket pair of
 * its own as its channel to the primary (the zygote sends the primary the other end), gives up the
 * zygote's IPC channel without reading it, and serves as any fork child (`serve`). The zygote reaps
 * its children and tells the primary how each ended.
 *
 * Node is not made to be forked: V8 runs with --single-threaded here (no background work a child would
 * wait for on a thread it does not have), the addon makes V8's heap inheritable and gives the child's
 * event loop its own kernel state, and a child leaves through _exit (Node's own exit joins threads it
 * does not have).
 */
export async function serveZygote (config: ChildConfig, addonPath: string, bundled: Readonly<Record<string, HandlerDefinition>>, serve: (born: Born) => Promise<void>): Promise<void> {
  process.title = 'echoplex zygote'
  process.env.ECHOPLEX_ROLE = 'zygote'
  const addon = loadKernelAccept(addonPath)
  const primary = new Peer<PrimaryToZygote, ZygoteToPrimary>(ipcChannel(process), { failure: errors.SHARED_FAILED, closedWhy: 'primary is gone' })
  dieWithParent()
  // the primary decides when this ends (closing the channel): a signal to the whole process group
  // (Ctrl-C, `kill -TERM -PGID`) reaches the primary too, and a zygote that left first would be
  // taken for one that died and started again
  process.on('disconnect', () => process.exit(0))
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const) process.on(signal, () => {})
  let handler: HandlerDefinition
  try {
    // loaded once, here: every child starts with it (a built-in one is compiled into this entry)
    const builtin = config.builtinHandler
    handler = builtin !== undefined && bundled[builtin] !== undefined ? bundled[builtin] : await loadHandler(config.handlerPath)
  } catch (err) {
    primary.send({ type: 'boot-failed', error: describeError(err), code: isEchoplexError(err) ? err.code : undefined })
    return
  }
  // children die with this process (the kernel's parent-death signal, armed against it)
  process.env[PARENT_DEATH_ENV] = `prctl:${process.pid}:${addonPath}`
  process.on('SIGCHLD', () => {
    for (let ended = addon.reap(); ended !== undefined; ended = addon.reap()) {
      const [pid, code, signal] = ended
      primary.send({ type: 'reaped', pid, code: code < 0 ? null : code, signal: signal < 0 ? null : SIGNAL_NAMES.get(signal) ?? 'SIGKILL' })
    }
  })
  primary.on('fork', (message, handle) => {
    const socket = handle as Socket | undefined
    if (socket === undefined) return
    const pair = addon.socketPair()
    if (typeof pair === 'number') {
      socket.destroy()
      primary.send({ type: 'fork-failed', id: message.id, error: `no socket pair (errno ${-pair})` })
      return
    }
    // synchronous from here to the fork: neither this process nor the child has read a byte of the connection
    const pid = addon.warmFork()
    if (pid === 0) {
      addon.close(pair[0])
      becomeChild(addon)
      void serve({ channel: streamChannel(new Socket({ fd: pair[1], readable: true, writable: true })), socket, preread: message.preread, handler })
      return
    }
    addon.close(pair[1])
    socket.destroy() // the child's copy serves it
    if (pid < 0) {
      addon.close(pair[0])
      primary.send({ type: 'fork-failed', id: message.id, error: `fork failed (errno ${-pid})` })
      return
    }
    primary.send({ type: 'forked', id: message.id, pid }, new Socket({ fd: pair[0], readable: false, writable: false }))
  })
  primary.send({ type: 'ready' })
}

/**
 * In a child just forked: give up what was the zygote's. Its IPC channel to the primary is closed here
 * before the event loop could read from it (the zygote reads it); its listeners go; and every way out
 * of the process becomes _exit.
 */
function becomeChild (addon: KernelAcceptAddon): void {
  // Node reads its pid once, at boot: without this the child would go by the zygote's (ctx.pid,
  // connection ids, and so broadcasts it would take for its own)
  Object.defineProperty(process, 'pid', { value: Number(readlinkSync('/proc/self')), writable: false, configurable: true, enumerable: true })
  const symbol = Object.getOwnPropertySymbols(process).find((s) => s.description === 'kChannelHandle')
  const handle = symbol === undefined ? undefined : (process as unknown as Record<symbol, { readStop?: () => void, close?: () => void } | undefined>)[symbol]
  handle?.readStop?.()
  handle?.close?.()
  for (const event of ['message', 'disconnect', 'SIGCHLD', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const) process.removeAllListeners(event)
  const exit = (code?: number | string | null): never => addon.exitNow(Number(code ?? 0) || 0)
  ;(process as unknown as { reallyExit: typeof exit }).reallyExit = exit
  // an event loop with nothing left: Node would exit through its own teardown
  process.on('beforeExit', () => exit(process.exitCode))
}
