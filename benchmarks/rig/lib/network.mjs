/**
 * The rig's network: Linux network namespaces — one per test host, one for the balancer, one for the
 * load generator — each with a veth link to a bridge that lives in a namespace of its own (the
 * "switch"), on a private /24. Nothing is added to the machine's own namespace, and deleting the
 * namespaces removes every link and the bridge with them.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { run, tryRun } from './sh.mjs'

/** Every namespace the rig makes starts with this, so leftovers of a killed run can be found. */
export const NAMESPACE_PREFIX = 'epxrig-'

export class RigNetwork {
  /**
   * @param {{ hosts: number, id?: string, octet?: number }} options
   *   `id` names this run's namespaces; `octet` picks the subnet 10.203.<octet>.0/24 (both random by default).
   */
  constructor ({ hosts, id = randomBytes(3).toString('hex'), octet = 16 + randomBytes(1)[0] % 224 }) {
    this.id = id
    this.subnet = `10.203.${octet}.0/24`
    const ip = (n) => `10.203.${octet}.${n}`
    const ns = (role) => `${NAMESPACE_PREFIX}${id}-${role}`
    this.switchNs = ns('sw')
    /** @type {{ name: string, ns: string, ip: string }[]} every endpoint on the bridge */
    this.balancer = { name: 'lb', ns: ns('lb'), ip: ip(2) }
    this.loadgen = { name: 'lg', ns: ns('lg'), ip: ip(3) }
    this.hosts = Array.from({ length: hosts }, (_, i) => ({ name: `h${i + 1}`, ns: ns(`h${i + 1}`), ip: ip(11 + i) }))
    this.created = []
  }

  get endpoints () { return [this.balancer, this.loadgen, ...this.hosts] }

  /** Creates the namespaces, the bridge and a link per endpoint. Whatever was made is recorded for remove(). */
  create () {
    this.addNamespace(this.switchNs)
    run('ip', ['-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge'])
    run('ip', ['-n', this.switchNs, 'link', 'set', 'br0', 'up'])
    for (const e of this.endpoints) {
      this.addNamespace(e.ns)
      run('ip', ['-n', e.ns, 'link', 'set', 'lo', 'up'])
      // the switch end is named after the endpoint; inside its namespace the endpoint sees eth0
      run('ip', ['-n', this.switchNs, 'link', 'add', e.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', e.ns])
      run('ip', ['-n', this.switchNs, 'link', 'set', e.name, 'master', 'br0'])
      run('ip', ['-n', this.switchNs, 'link', 'set', e.name, 'up'])
      run('ip', ['-n', e.ns, 'addr', 'add', `${e.ip}/24`, 'dev', 'eth0'])
      run('ip', ['-n', e.ns, 'link', 'set', 'eth0', 'up'])
    }
  }

  addNamespace (name) {
    run('ip', ['netns', 'add', name])
    this.created.push(name)
  }

  /** Cuts (or restores) an endpoint's cable: its port on the switch goes down (up). */
  setLink (endpoint, up) {
    run('ip', ['-n', this.switchNs, 'link', 'set', endpoint.name, up ? 'up' : 'down'])
  }

  /** Deletes every namespace this run made (their links and the bridge go with them). Synchronous, idempotent. */
  remove () {
    const left = []
    for (const name of this.created.splice(0).reverse()) {
      if (tryRun('ip', ['netns', 'del', name]) === null && namespaceExists(name)) left.push(name)
    }
    return left
  }
}

export function namespaceExists (name) {
  try { return readdirSync('/run/netns').includes(name) } catch { return false }
}

/** Namespaces left by rig runs that were killed before they could clean up. */
export function leftoverNamespaces () {
  try { return readdirSync('/run/netns').filter((n) => n.startsWith(NAMESPACE_PREFIX)) } catch { return [] }
}
