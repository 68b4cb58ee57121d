import { Command } from 'commander'
import { errors } from '@echoplex/core'
import { echoplexRoleOf, findServerPid, formatTree, readProcessTreeWithCpu } from '@echoplex/proc'
import { modelRoles } from '@echoplex/server'
import { parseDuration, parseInteger, parsePort } from '../parse.js'

interface PsFlags { pid?: number, port?: number, unix?: string, watch?: number, json?: boolean }

/** The server's root pid: given, or whoever listens on the port / socket (the primary, for cluster). */
async function resolveRoot (flags: PsFlags): Promise<number> {
  const given = [flags.pid, flags.port, flags.unix].filter((v) => v !== undefined).length
  if (given !== 1) throw errors.BAD_OPTION('ps', 'give exactly one of --pid, --port or --unix')
  if (flags.pid !== undefined) {
    // a pid is typed by hand: refuse one that is not (part of) an echoplex server rather than show any process
    if (await echoplexRoleOf(flags.pid, modelRoles()) === null) {
      throw errors.BAD_OPTION('--pid', `process ${flags.pid} is not an echoplex server (no such process, or not started by \`echoplex serve\`)`)
    }
    return flags.pid
  }
  const pid = await findServerPid(flags.port !== undefined ? { port: flags.port } : { unix: flags.unix! })
  if (pid === null) throw errors.BAD_OPTION(flags.port !== undefined ? '--port' : '--unix', `no server of yours listens on ${flags.port ?? flags.unix}`)
  return pid
}

export function psCommand (): Command {
  return new Command('ps')
    .description('show the live process tree of a running server, read from /proc: pid, ppid, role, state, threads, RSS, CPU %, connections')
    .option('--pid <n>', 'root pid of the server', parseInteger(1))
    .option('--port <n>', 'find the server listening on this TCP port', parsePort)
    .option('--unix <path>', 'find the server listening on this UNIX socket')
    .option('--watch [interval]', 'refresh until interrupted (default every 1s)', parseDuration)
    .option('--json', 'print the tree as JSON')
    .action(async (flags: PsFlags) => {
      const root = await resolveRoot(flags)
      const show = async (): Promise<boolean> => {
        const tree = await readProcessTreeWithCpu(root, 200, { connections: true, roles: modelRoles() })
        if (tree.processes.length === 0) throw errors.BAD_OPTION('--pid', `no process ${root}`)
        const text = flags.json === true ? JSON.stringify(tree, null, 2) + '\n' : formatTree(tree)
        if (flags.watch !== undefined && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H')
        process.stdout.write(text)
        return true
      }
      await show()
      if (flags.watch === undefined) return
      const every = typeof flags.watch === 'number' ? Math.max(200, flags.watch) : 1000
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, every))
        try {
          await show()
        } catch {
          process.stdout.write(`server ${root} is gone\n`)
          return
        }
      }
    })
}
