#!/usr/bin/env node
/**
 * `pnpm run rig -- --hosts 3 --model cluster`: N echoplex hosts behind HAProxy, each in its own
 * network namespace, loaded through the balancer by `echoplex bench --target` from a namespace of its
 * own; prints bench's summary and each host's connection count, then removes everything it made.
 * Needs root. `--cleanup` removes what a killed run left behind.
 */
import { parseArgs } from 'node:util'
import { leftoverNamespaces } from './lib/network.mjs'
import { killAll } from './lib/process.mjs'
import { Rig, cannotRun, teardownOnExit } from './lib/rig.mjs'
import { tryRun } from './lib/sh.mjs'

const USAGE = `usage: pnpm run rig -- [--hosts 3] [--model event-loop|cluster|fork|pool] [--workers 2]
                      [--workload echo|upper|http|work] [-d 3s] [-c 32] [--modes keep-alive,churn] [--out DIR]
       pnpm run rig -- --cleanup    (remove namespaces left by a killed run)`

const fail = (message, code = 1) => {
  process.stderr.write(`rig: ${message}\n`)
  process.exit(code)
}

let flags
try {
  // `pnpm run rig -- --hosts 3` passes the `--` on: it is not an end of options here
  const argv = process.argv.slice(2)
  flags = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      hosts: { type: 'string', default: '3' },
      model: { type: 'string', default: 'event-loop' },
      workers: { type: 'string', default: '2' },
      workload: { type: 'string', default: 'echo' },
      duration: { type: 'string', short: 'd', default: '3s' },
      connections: { type: 'string', short: 'c', default: '32' },
      modes: { type: 'string', default: 'keep-alive,churn' },
      out: { type: 'string' },
      cleanup: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  }).values
} catch (err) {
  fail(`${err.message.split('\n')[0]}\n${USAGE}`, 2)
}
if (flags.help) { process.stdout.write(`${USAGE}\n`); process.exit(0) }

const why = cannotRun()
if (why !== null) fail(why)

if (flags.cleanup) {
  const left = leftoverNamespaces()
  for (const ns of left) tryRun('ip', ['netns', 'del', ns])
  process.stdout.write(`removed ${left.length} leftover namespace(s)${left.length > 0 ? `: ${left.join(' ')}` : ''}\n`)
  process.exit(0)
}

const hosts = Number(flags.hosts)
if (!Number.isInteger(hosts) || hosts < 1 || hosts > 200) fail('--hosts: expected a whole number from 1 to 200', 2)
if (!['event-loop', 'cluster', 'fork', 'pool'].includes(flags.model)) fail(`--model: expected event-loop, cluster, fork or pool, not "${flags.model}"`, 2)
if (!['echo', 'upper', 'http', 'work'].includes(flags.workload)) fail(`--workload: expected echo, upper, http or work, not "${flags.workload}"`, 2)
const workers = Number(flags.workers)
if (!Number.isInteger(workers) || workers < 1) fail('--workers: expected a whole number ≥ 1', 2)

const rig = new Rig({ hosts, model: flags.model, handler: flags.workload, workers })
teardownOnExit(rig)
const log = (line) => process.stdout.write(`${line}\n`)

try {
  await rig.up(log)
  const args = ['-w', flags.workload, '-d', flags.duration, '--warmup', '500ms', '-c', flags.connections, '--modes', flags.modes]
  if (flags.out !== undefined) args.push('--out', flags.out)
  log(`load: echoplex bench --target ${rig.balancer.address} ${args.join(' ')}  (from ${rig.network.loadgen.ns})\n`)
  const bench = rig.bench(args)
  bench.child.stdout.on('data', (d) => process.stdout.write(d))
  bench.child.stderr.on('data', (d) => process.stderr.write(d))
  const benchStatus = await bench.exited

  const [own, seen] = [await rig.hostStats(), await rig.balancer.stats()]
  const rows = rig.hosts.map((h) => {
    const s = own[h.name]
    const b = seen[h.name]
    return [h.name, h.address, flags.model, fmt(s?.connectionsTotal), fmt(s?.messages), fmt(s?.bytesIn), fmt(s?.protocolErrors), fmt(b?.sessions), b?.status ?? '?']
  })
  const total = (i) => fmt(rows.reduce((n, r) => n + Number(String(r[i]).replace(/,/g, '') || 0), 0))
  rows.push(['total', '', '', total(3), total(4), total(5), total(6), total(7), ''])
  log('\nper host (connections, messages, bytes in, protocol errors: the host\'s own stats via SIGUSR2; sessions: HAProxy\'s):')
  log(table([['host', 'address', 'model', 'connections', 'messages', 'bytes in', 'proto errors', 'haproxy sessions', 'status'], ...rows]))

  await rig.down()
  log(`\nremoved: ${rig.network.endpoints.length + 1} namespaces (bridge and ${rig.network.endpoints.length} veth links with them), ${hosts} hosts, haproxy, ${rig.dir}`)
  process.exitCode = benchStatus === 0 ? 0 : 1
} catch (err) {
  process.stderr.write(`rig: ${err.message.split('\n')[0]}\n`)
  killAll()
  rig.teardown()
  process.exitCode = 1
}

function fmt (n) {
  return n === undefined || n === null ? '-' : Number(n).toLocaleString('en-US')
}

function table (rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  return rows.map((r, j) => {
    const line = r.map((c, i) => (i >= 3 && i <= 7 ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ').trimEnd()
    return j === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line
  }).join('\n')
}
