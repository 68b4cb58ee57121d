import { createServer, type Server } from 'node:net'

let probed: Promise<string | undefined> | undefined

/**
 * Whether this Node can bind several listening sockets to one TCP port with SO_REUSEPORT (`net`
 * `reusePort`, Node ≥ 22.12 / 23.1, on Linux and the BSDs). Detected, not assumed from the version:
 * two listeners try to share an ephemeral loopback port; older Nodes ignore the option, and the
 * second bind then fails with EADDRINUSE. Resolves with undefined when it works, else why not.
 */
export async function reusePortUnavailable (): Promise<string | undefined> {
  probed ??= probe()
  return await probed
}

async function probe (): Promise<string | undefined> {
  const first = createServer()
  const second = createServer()
  try {
    const port = await bind(first, 0)
    await bind(second, port)
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    return code === 'EADDRINUSE'
      ? `this Node (${process.version}) cannot share a port between listeners (net reusePort needs Node 22.12 or later)`
      : `SO_REUSEPORT failed here (${code})`
  } finally {
    first.close()
    second.close()
  }
}

async function bind (server: Server, port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    server.once('error', reject)
    // `exclusive`: in a cluster worker too, a socket of this process's own
    server.listen({ host: '127.0.0.1', port, exclusive: true, reusePort: true } as Parameters<Server['listen']>[0], () => {
      server.off('error', reject)
      resolve((server.address() as { port: number }).port)
    })
  })
}
