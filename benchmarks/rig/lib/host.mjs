/** A test host: `echoplex serve --proxy-protocol` in its own namespace, trusting only the balancer. */
import { fileURLToPath } from 'node:url'
import { NsProcess } from './process.mjs'

export const ECHOPLEX_BIN = fileURLToPath(new URL('../../../packages/cli/bin/echoplex.js', import.meta.url))
export const HOST_PORT = 7000

export class RigHost {
  /**
   * @param {{ name: string, ns: string, ip: string }} endpoint
   * @param {{ model: string, handler: string, workers?: number, options?: Record<string,string>, balancerIp: string, grace?: string }} config
   */
  constructor (endpoint, config) {
    this.endpoint = endpoint
    this.config = config
    this.proc = null
    this.starts = 0
  }

  get name () { return this.endpoint.name }
  get address () { return `${this.endpoint.ip}:${HOST_PORT}` }

  args () {
    const c = this.config
    const args = [ECHOPLEX_BIN, 'serve', '--model', c.model, '--handler', c.handler, '--host', this.endpoint.ip, '--port', String(HOST_PORT),
      '--proxy-protocol', '--proxy-allow-from', c.balancerIp, '--grace', c.grace ?? '5s']
    if (c.workers !== undefined && (c.model === 'cluster' || c.model === 'pool')) args.push('--workers', String(c.workers))
    if (c.model === 'fork') args.push('--spares', '2', '--max-children', '512')
    for (const [k, v] of Object.entries({ host: this.name, ...(c.options ?? {}) })) args.push('--option', `${k}=${v}`)
    return args
  }

  /** Starts the server; resolves once it prints its `listening` line. */
  async start (timeoutMs = 20_000) {
    this.proc = new NsProcess(this.endpoint.ns, process.execPath, this.args())
    this.starts++
    await this.proc.waitFor(/^listening \S+ model=\S+ pid=\d+$/m, timeoutMs, `host ${this.name} did not start`)
    return this
  }

  /** The server's own counters: SIGUSR2 makes it print one `stats {json}` line. */
  async stats (timeoutMs = 5000) {
    const proc = this.proc
    if (proc === null || !proc.running) return null
    const seen = (proc.out.match(/^stats /gm) ?? []).length
    proc.signal('SIGUSR2')
    const deadline = Date.now() + timeoutMs
    while ((proc.out.match(/^stats /gm) ?? []).length <= seen) {
      if (Date.now() > deadline || !proc.running) return null
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const lines = proc.out.split('\n').filter((l) => l.startsWith('stats '))
    return JSON.parse(lines[lines.length - 1].slice('stats '.length))
  }

  /** Graceful stop (SIGTERM: the server drains); resolves with its exit status. */
  async stop (graceMs = 10_000) {
    return this.proc === null ? null : await this.proc.stop(graceMs)
  }
}
