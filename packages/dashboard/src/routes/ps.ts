/**
 * The live process tree of a running server (what `echoplex ps` shows), read from /proc:
 *   GET /ps?port=N | ?pid=N   a page that refreshes every second
 *   GET /api/ps?port=N | ?pid=N
 */
import type { FastifyInstance } from 'fastify'
import { errors } from '@echoplex/core'
import { findServerPid, formatTree, readProcessTreeWithCpu, treeTotals } from '@echoplex/proc'
import { modelRoles } from '@echoplex/server'
import type { DashboardContext } from '../context.js'
import { CSP, esc, jsonForScript, page } from '../html.js'

const PID_MAX = 4_194_304 // the kernel's pid_max ceiling

interface PsQuery { pid?: number, port?: number }

const psQuery = (required: boolean): object => ({
  type: 'object',
  propertyNames: { enum: ['pid', 'port'] },
  properties: {
    pid: { type: 'integer', minimum: 1, maximum: PID_MAX },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
  not: { required: ['pid', 'port'] },
  ...(required ? { anyOf: [{ required: ['pid'] }, { required: ['port'] }] } : {}),
})

const hints = {
  querystring: 'give exactly one of pid or port',
  'querystring/pid': `must be a process id (a whole number from 1 to ${PID_MAX})`,
  'querystring/port': 'must be a TCP port (a whole number from 1 to 65535)',
}

/** The root pid of the server a query names; 404 when nobody listens there / no such process. */
async function rootOf (q: PsQuery): Promise<number> {
  if (q.port !== undefined) {
    const pid = await findServerPid({ port: q.port })
    if (pid === null) throw errors.NO_SERVER(`no server of yours listens on port ${q.port}`)
    return pid
  }
  return q.pid!
}

async function snapshot (root: number): Promise<Record<string, unknown>> {
  const tree = await readProcessTreeWithCpu(root, 200, { connections: true, roles: modelRoles() })
  if (tree.processes.length === 0) throw errors.NO_SERVER(`no process ${root} (the server is gone)`)
  return {
    rootPid: root,
    readAt: new Date(tree.readAtMs).toISOString(),
    cpuSpanMs: tree.cpuSpanMs,
    totals: treeTotals(tree),
    processes: tree.processes.map((p) => ({
      pid: p.pid,
      ppid: p.ppid,
      depth: p.depth,
      role: p.role,
      state: p.state,
      stateName: p.stateName,
      threads: p.threads,
      rssBytes: p.rssBytes,
      pssBytes: p.pssBytes,
      cpuPercent: p.cpuPercent,
      connections: p.connections,
      served: p.served,
      listening: p.listening,
      cmdline: p.cmdline,
    })),
    text: formatTree(tree),
  }
}

export function registerPsRoutes (app: FastifyInstance, _ctx: DashboardContext): void {
  app.get<{ Querystring: PsQuery }>('/api/ps', { schema: { querystring: psQuery(true) }, config: { hints } }, async (request) => {
    return await snapshot(await rootOf(request.query))
  })

  app.get<{ Querystring: PsQuery }>('/ps', { schema: { querystring: psQuery(false) }, config: { page: true, hints } }, async (request, reply) => {
    reply.header('content-security-policy', CSP).type('text/html; charset=utf-8')
    const q = request.query
    const form = `<form class="inline" method="get" action="/ps" id="ps-form">
<label>port<input name="port" type="number" min="1" max="65535" value="${esc(q.port ?? '')}"></label>
<span class="muted">or</span>
<label>pid<input name="pid" type="number" min="1" max="${PID_MAX}" value="${esc(q.pid ?? '')}"></label>
<button type="submit">show</button>
</form>`
    if (q.pid === undefined && q.port === undefined) {
      return reply.send(page({ title: 'Process tree', body: `<h1>Process tree of a running server</h1>\n<p class="muted">Start one with <code>echoplex serve --model fork --handler echo --port 7000</code>, then give its port.</p>\n${form}` }))
    }
    const root = await rootOf(q)
    const first = await snapshot(root)
    const what = q.port !== undefined ? `port ${q.port} (pid ${root})` : `pid ${root}`
    const body = `<h1>Process tree: ${esc(what)}</h1>
${form}
<p id="totals"></p>
<table id="tree"><thead><tr><th>pid</th><th>ppid</th><th>role</th><th style="white-space:nowrap">state</th><th class="num">threads</th><th class="num">RSS MiB</th><th class="num">PSS MiB</th><th class="num">CPU %</th><th class="num">conns</th><th class="num" title="connections this child has served">served</th><th>listening</th></tr></thead><tbody></tbody></table>
<p class="muted" id="updated"></p>
<details><summary>as text (<code>echoplex ps</code>)</summary><pre id="text"></pre></details>`
    const script = `const ROOT = ${jsonForScript(root)};
let snap = ${jsonForScript(first)};
const $ = (id) => document.getElementById(id);
const mib = (b) => b === null || b === undefined ? '' : (b / 1048576).toFixed(1);
function cell (text, num) { const td = document.createElement('td'); td.textContent = text; if (num) td.className = 'num'; return td; }
function render (s) {
  const rows = s.processes.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.pid = p.pid;
    const pid = cell('\\u00a0'.repeat(p.depth * 3) + p.pid);
    pid.title = p.cmdline;
    tr.append(pid, cell(p.ppid), cell(p.role), cell(p.state + (p.stateName ? ' (' + p.stateName + ')' : '')), cell(p.threads, 1), cell(mib(p.rssBytes), 1), cell(mib(p.pssBytes), 1),
      cell(p.cpuPercent === null ? '' : p.cpuPercent.toFixed(1), 1), cell(p.connections === null ? '' : p.connections, 1), cell(p.served === null || p.served === undefined ? '' : p.served, 1), cell(p.listening.join(' ')));
    return tr;
  });
  document.querySelector('#tree tbody').replaceChildren(...rows);
  const t = s.totals;
  $('totals').textContent = t.processes + ' process(es), ' + t.threads + ' thread(s), RSS ' + mib(t.rssBytes) + ' MiB' + (t.pssBytes === null ? '' : ', PSS ' + mib(t.pssBytes) + ' MiB') + ', CPU ' + (t.cpuPercent === null ? '?' : t.cpuPercent.toFixed(1)) + ' %, ' + (t.connections === null ? '?' : t.connections) + ' connection(s), ' + t.zombies + ' zombie(s)';
  $('text').textContent = s.text;
  $('updated').textContent = 'updated ' + new Date(s.readAt).toLocaleTimeString() + ' · refreshes every second';
}
async function refresh () {
  try {
    const r = await fetch('/api/ps?pid=' + ROOT, { cache: 'no-store' });
    const d = await r.json();
    if (r.status === 404) { $('updated').textContent = d.message; $('updated').className = 'error'; return; }
    if (r.ok) render(d);
  } catch (e) { $('updated').textContent = 'dashboard unreachable: ' + e; }
  setTimeout(refresh, 1000);
}
render(snap);
setTimeout(refresh, 1000);`
    return reply.send(page({ title: `Process tree ${what}`, body, script }))
  })
}
