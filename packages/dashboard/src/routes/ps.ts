/**
 * The live process tree of a running server (what `echoplex ps` shows), read from /proc, and how it
 * changes (like `pm2 monit`):
 *   GET /ps?port=N | ?pid=N   a page that refreshes every second: the tree, and charts over the last
 *                             5 minutes of per-process CPU, RSS and connections, and the server's
 *                             requests per second (from its SIGUSR2 stats)
 *   GET /api/ps?port=N | ?pid=N [&stats=true]
 * Empty fields (a form sent with one box blank) are ignored.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors, readStatsFile } from '@echoplex/core'
import { findServerPid, formatTree, readProcessTreeWithCpu, treeTotals } from '@echoplex/proc'
import { modelRoles } from '@echoplex/server'
import type { DashboardContext } from '../context.js'
import { CSP, esc, jsonForScript, page } from '../html.js'

const PID_MAX = 4_194_304 // the kernel's pid_max ceiling

interface PsQuery { pid?: number, port?: number, stats?: boolean }

const psQuery = (required: boolean): object => ({
  type: 'object',
  propertyNames: { enum: ['pid', 'port', 'stats'] },
  properties: {
    pid: { type: 'integer', minimum: 1, maximum: PID_MAX },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    stats: { type: 'boolean' },
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

/** A blank form field (`?port=7201&pid=`) means "not given". */
async function dropEmptyFields (request: FastifyRequest): Promise<void> {
  const q = request.query as Record<string, unknown>
  for (const k of Object.keys(q)) if (q[k] === '') delete q[k]
}

/** Stats older than this are not the server's current ones (it may no longer answer SIGUSR2). */
const STATS_FRESH_MS = 10_000

/**
 * The server's own counters: what it wrote on the last SIGUSR2 (core's stats file), then a SIGUSR2
 * for the next call. Only an echoplex primary is signalled: SIGUSR2 would kill another process.
 * `primary`: the root carries a primary's own marker, from the tree just read (see snapshot).
 */
async function serverStats (root: number, primary: boolean): Promise<{ stats: Record<string, unknown> | null, statsNote: string | null }> {
  if (!primary) return { stats: null, statsNote: 'requests/s: not an echoplex server (only its processes are shown)' }
  const file = readStatsFile(root)
  try { process.kill(root, 'SIGUSR2') } catch { /* gone: the tree read says so */ }
  if (file === null || Date.now() - file.at > STATS_FRESH_MS) return { stats: null, statsNote: 'requests/s: waiting for the server\'s stats (SIGUSR2)' }
  const s = file.stats
  return {
    stats: { at: file.at, model: s.model ?? null, messages: s.messages ?? null, connectionsActive: s.connectionsActive ?? null, connectionsTotal: s.connectionsTotal ?? null },
    statsNote: null,
  }
}

/** The roles echoplex processes show (the registry's), once. */
const ROLES = modelRoles()

/**
 * The tree under `root`, as the API gives it, and whether the root is an echoplex primary by a marker
 * of its own (title, argv or environment). The tree's role alone is not enough: it infers "primary"
 * for any unmarked root above echoplex processes (a shell, a test runner, this dashboard itself).
 */
async function snapshot (root: number): Promise<{ view: Record<string, unknown>, primary: boolean }> {
  const tree = await readProcessTreeWithCpu(root, 200, { connections: true, roles: ROLES })
  if (tree.processes.length === 0) throw errors.NO_SERVER(`no process ${root} (the server is gone)`)
  const top = tree.processes[0]!
  const primary = top.role === 'primary' && top.roleSource !== 'inferred'
  return { primary, view: {
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
  } }
}

export function registerPsRoutes (app: FastifyInstance, _ctx: DashboardContext): void {
  app.get<{ Querystring: PsQuery }>('/api/ps', { schema: { querystring: psQuery(true) }, preValidation: dropEmptyFields, config: { hints } }, async (request) => {
    const root = await rootOf(request.query)
    const { view, primary } = await snapshot(root)
    return request.query.stats === true ? { ...view, ...await serverStats(root, primary) } : view
  })

  app.get<{ Querystring: PsQuery }>('/ps', { schema: { querystring: psQuery(false) }, preValidation: dropEmptyFields, config: { page: true, hints } }, async (request, reply) => {
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
    const { view, primary } = await snapshot(root)
    const first = { ...view, ...await serverStats(root, primary) }
    const what = q.port !== undefined ? `port ${q.port} (pid ${root})` : `pid ${root}`
    const body = `<h1>Process tree: ${esc(what)}</h1>
${form}
<p id="totals"></p>
<table id="tree"><thead><tr><th>pid</th><th>ppid</th><th>role</th><th style="white-space:nowrap">state</th><th class="num">threads</th><th class="num">RSS MiB</th><th class="num">PSS MiB</th><th class="num">CPU %</th><th class="num">conns</th><th class="num" title="connections this child has served">served</th><th>listening</th></tr></thead><tbody></tbody></table>
<p class="muted" id="updated"></p>
<h2>Over the last 5 minutes</h2>
<p class="muted" id="stats-note"></p>
<div id="charts" class="charts">
<figure><figcaption>CPU, % of one core, per process</figcaption><svg id="chart-cpu" class="live-chart" viewBox="0 0 560 200" preserveAspectRatio="none"></svg></figure>
<figure><figcaption>RSS, MiB, per process</figcaption><svg id="chart-rss" class="live-chart" viewBox="0 0 560 200" preserveAspectRatio="none"></svg></figure>
<figure><figcaption>connections, per process</figcaption><svg id="chart-conns" class="live-chart" viewBox="0 0 560 200" preserveAspectRatio="none"></svg></figure>
<figure><figcaption>requests per second, whole server (its SIGUSR2 stats)</figcaption><svg id="chart-rps" class="live-chart" viewBox="0 0 560 200" preserveAspectRatio="none"></svg></figure>
</div>
<p class="legend" id="legend"></p>
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
// ---- history and charts: the last 5 minutes, one line per process (its pid and role) ----
const WINDOW_MS = 5 * 60 * 1000;
const COLORS = ['#2456c9', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285', '#e67700', '#5c940d', '#495057'];
const procs = new Map(); // pid → { role, color, points: [{ t, cpu, rss, conns }] }
const rps = []; // { t, v }
let lastStats = null;
let colorNext = 0;
function record (s) {
  const t = Date.parse(s.readAt);
  for (const p of s.processes) {
    let h = procs.get(p.pid);
    if (!h) { h = { role: p.role, color: COLORS[colorNext++ % COLORS.length], points: [] }; procs.set(p.pid, h); }
    h.points.push({ t, cpu: p.cpuPercent, rss: p.rssBytes / 1048576, conns: p.connections });
  }
  if (s.stats && typeof s.stats.messages === 'number') {
    if (lastStats && s.stats.at > lastStats.at && s.stats.messages >= lastStats.messages) {
      rps.push({ t: s.stats.at, v: (s.stats.messages - lastStats.messages) / ((s.stats.at - lastStats.at) / 1000) });
    }
    lastStats = s.stats;
  }
  $('stats-note').textContent = s.statsNote || (rps.length ? 'requests/s now: ' + Math.round(rps[rps.length - 1].v).toLocaleString('en-US') : '');
  const from = t - WINDOW_MS;
  for (const [pid, h] of procs) { h.points = h.points.filter((x) => x.t >= from); if (!h.points.length) procs.delete(pid); }
  while (rps.length && rps[0].t < from) rps.shift();
}
const NS = 'http://www.w3.org/2000/svg';
function el (name, attrs, text) { const e = document.createElementNS(NS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function niceMax (v) { if (!(v > 0)) return 1; const m = Math.pow(10, Math.floor(Math.log10(v))); return [1, 2, 2.5, 5, 10].map((k) => k * m).find((x) => x >= v); }
function draw (id, series, now) {
  const svg = $(id); const W = 560, H = 200, L = 44, R = 8, T = 8, B = 22;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v).filter((v) => v !== null))));
  const x = (t) => L + (1 - (now - t) / WINDOW_MS) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const kids = [];
  for (const f of [0, 0.5, 1]) {
    kids.push(el('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), stroke: '#e3e6ec' }));
    kids.push(el('text', { x: L - 4, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#667085' }, (max * f).toLocaleString('en-US', { maximumFractionDigits: 1 })));
  }
  for (const [m, label] of [[5, '-5 min'], [2.5, '-2.5 min'], [0, 'now']]) kids.push(el('text', { x: x(now - m * 60000), y: H - 6, 'text-anchor': m === 5 ? 'start' : m === 0 ? 'end' : 'middle', 'font-size': 11, fill: '#667085' }, label));
  let lines = 0;
  for (const s of series) {
    const pts = s.points.filter((p) => p.v !== null);
    if (!pts.length) continue;
    const d = pts.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p.v).toFixed(1)).join('');
    const path = el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.8, 'data-series': s.name });
    path.appendChild(el('title', {}, s.name));
    kids.push(path);
    if (pts.length === 1) kids.push(el('circle', { cx: x(pts[0].t), cy: y(pts[0].v), r: 2.5, fill: s.color }));
    lines++;
  }
  svg.replaceChildren(...kids);
  svg.dataset.lines = lines;
  svg.dataset.points = series.reduce((n, s) => n + s.points.filter((p) => p.v !== null).length, 0);
}
function charts (now) {
  const per = (key) => [...procs].map(([pid, h]) => ({ name: h.role + ' ' + pid, color: h.color, points: h.points.map((p) => ({ t: p.t, v: p[key] })) }));
  draw('chart-cpu', per('cpu'), now);
  draw('chart-rss', per('rss'), now);
  draw('chart-conns', per('conns'), now);
  draw('chart-rps', [{ name: 'requests/s', color: '#2456c9', points: rps.map((p) => ({ t: p.t, v: p.v })) }], now);
  $('legend').replaceChildren(...[...procs].map(([pid, h]) => { const s = document.createElement('span'); s.className = 'key'; s.style.borderColor = h.color; s.textContent = h.role + ' ' + pid; return s; }));
}
async function refresh () {
  try {
    const r = await fetch('/api/ps?stats=true&pid=' + ROOT, { cache: 'no-store' });
    const d = await r.json();
    if (r.status === 404) { $('updated').textContent = d.message; $('updated').className = 'error'; return; }
    if (r.ok) { render(d); record(d); charts(Date.parse(d.readAt)); }
  } catch (e) { $('updated').textContent = 'dashboard unreachable: ' + e; }
  setTimeout(refresh, 1000);
}
render(snap);
record(snap);
charts(Date.parse(snap.readAt));
setTimeout(refresh, 1000);`
    return reply.send(page({ title: `Process tree ${what}`, body, script }))
  })
}
