/**
 * A multi-host rig on one machine: N echoplex hosts, an HAProxy balancer and a load-generator
 * namespace on a bridge (see network.mjs). Everything it creates — namespaces, links, the bridge,
 * processes, its temporary folder — is removed by down(), and by teardown() from exit and signal
 * hooks when a run fails or is interrupted.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Balancer } from './haproxy.mjs'
import { ECHOPLEX_BIN, RigHost } from './host.mjs'
import { RigNetwork } from './network.mjs'
import { NsProcess, killAll } from './process.mjs'
import { have } from './sh.mjs'

/** Why the rig cannot run here (one line), or null. */
export function cannotRun () {
  if (process.platform !== 'linux') return 'the rig needs Linux (network namespaces)'
  if (process.getuid?.() !== 0) return 'the rig needs root (it creates network namespaces, veth links and a bridge): run it as root, e.g. sudo pnpm run rig'
  for (const tool of ['ip', 'haproxy']) {
    if (!have(tool)) return `the rig needs ${tool === 'ip' ? 'iproute2 (ip)' : 'HAProxy'}: apt-get install ${tool === 'ip' ? 'iproute2' : 'haproxy'}`
  }
  return null
}

export class Rig {
  /**
   * @param {{ hosts: number, model: string, handler: string, workers?: number, options?: Record<string,string>, grace?: string }} config
   */
  constructor (config) {
    this.config = config
    this.network = new RigNetwork({ hosts: config.hosts })
    this.dir = null
    this.hosts = []
    this.balancer = null
    this.removed = false
  }

  get id () { return this.network.id }

  /** Builds the network, starts the hosts and the balancer, and waits until HAProxy sees every host UP. */
  async up (log = () => {}) {
    this.dir = mkdtempSync(join(tmpdir(), `epxrig-${this.id}-`))
    this.network.create()
    const n = this.network
    log(`rig ${this.id}: subnet ${n.subnet}; balancer ${n.balancer.ip}, load generator ${n.loadgen.ip}, hosts ${n.hosts.map((h) => h.ip).join(' ')}`)
    this.hosts = n.hosts.map((e) => new RigHost(e, { ...this.config, balancerIp: n.balancer.ip }))
    await Promise.all(this.hosts.map(async (h) => await h.start()))
    for (const h of this.hosts) log(`  ${h.name} ${h.address}: echoplex serve --model ${this.config.model} --handler ${this.config.handler} --proxy-protocol --proxy-allow-from ${n.balancer.ip} (pid ${h.proc.pid})`)
    this.balancer = new Balancer({ endpoint: n.balancer, hosts: this.hosts.map((h) => ({ name: h.name, address: h.address })), dir: this.dir })
    await this.balancer.start()
    for (const h of this.hosts) await this.balancer.waitFor(h.name, 'UP')
    log(`  balancer ${this.balancer.address}: HAProxy ${this.balancer.version()}, mode tcp, roundrobin, send-proxy-v2, checks every 500 ms; every host UP`)
    return this
  }

  host (name) { return this.hosts.find((h) => h.name === name) }

  /** `node <args>` in the load generator's namespace (e.g. the echoplex CLI). */
  loadgen (args, options) {
    return new NsProcess(this.network.loadgen.ns, process.execPath, args, options)
  }

  /** `echoplex bench --target <balancer> …` from the load generator's namespace. */
  bench (args) {
    return this.loadgen([ECHOPLEX_BIN, 'bench', '--target', this.balancer.address, ...args])
  }

  /** Every host's own counters (SIGUSR2), by host name. */
  async hostStats () {
    const out = {}
    for (const h of this.hosts) out[h.name] = await h.stats()
    return out
  }

  /** Graceful: hosts drain, the balancer stops, then everything is removed. */
  async down () {
    try {
      await Promise.all(this.hosts.map(async (h) => await h.stop()))
      await this.balancer?.stop()
    } finally {
      this.teardown()
    }
  }

  /** Removes everything at once (synchronous: safe in exit and signal hooks). Idempotent. */
  teardown () {
    if (this.removed) return
    this.removed = true
    killAll()
    const left = this.network.remove()
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true })
    if (left.length > 0) process.stderr.write(`rig: could not remove namespace(s) ${left.join(', ')}\n`)
  }
}

/**
 * Tears `rig` down however the process ends: normal exit, an uncaught error, SIGINT/SIGTERM/SIGHUP
 * (then exits 130/143/129). Returns a function that removes the hooks.
 */
export function teardownOnExit (rig) {
  const onExit = () => rig.teardown()
  const onSignal = (signal) => {
    process.stderr.write(`rig: ${signal}: removing everything the rig created\n`)
    rig.teardown()
    // a moment for the event loop to reap the children just killed, so none is left a zombie
    setTimeout(() => process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal] ?? 0)), 300)
  }
  process.on('exit', onExit)
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal)
  return () => {
    process.off('exit', onExit)
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(s, onSignal)
  }
}
