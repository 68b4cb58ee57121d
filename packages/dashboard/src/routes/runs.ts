/**
 * Starting a suite run from the dashboard and following it live:
 *   POST   /api/runs              start (one at a time: 409 while another runs)
 *   GET    /api/runs              this dashboard's runs
 *   GET    /api/runs/:id          one run's state
 *   GET    /api/runs/:id/events   server-sent events: start, progress (scenario, percent, ETA), note, skip, then done (results name) or failed
 *   DELETE /api/runs/:id          stop it (partial results are written)
 *   GET    /runs/new              the page: pick a suite, start it, watch its progress, open its report
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { errors } from '@echoplex/core'
import {
  BENCH_HANDLERS, MODES, PEER_NAMES, listSuites, loadSuite, resolveSuitePath, SuiteError,
  type SuiteOverrides,
} from '@echoplex/bench'
import { modelNames } from '@echoplex/server'
import type { SuiteConfig } from '@echoplex/results'
import type { DashboardContext } from '../context.js'
import { CSP, esc, jsonForScript, page } from '../html.js'
import type { Run, RunEvent } from '../runs.js'

const SUITE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'
const RUN_ID_PATTERN = '^[0-9a-f]{12}$'

/** The body of POST /api/runs: a suite by name and the same overrides as `echoplex bench`'s flags. */
export type StartBody = { suite: string } & Omit<SuiteOverrides, 'loadThreads'>

const BODY_FIELDS = ['suite', 'models', 'workloads', 'peers', 'durationMs', 'warmupMs', 'connections', 'payloadBytes', 'modes', 'repetitions', 'workers'] as const

/** A suite from the suites folder, with a small inline override (the same knobs as `echoplex bench`). */
export const startBodySchema = {
  type: 'object',
  required: ['suite'],
  propertyNames: { enum: BODY_FIELDS },
  properties: {
    suite: { type: 'string', pattern: SUITE_PATTERN },
    models: { type: 'array', minItems: 1, maxItems: 8, uniqueItems: true, items: { enum: modelNames() } },
    // built-in handlers or workload names of the suite: never a path
    workloads: { type: 'array', minItems: 1, maxItems: 8, uniqueItems: true, items: { type: 'string', pattern: SUITE_PATTERN } },
    peers: { anyOf: [{ type: 'boolean' }, { type: 'array', maxItems: 16, uniqueItems: true, items: { enum: PEER_NAMES } }] },
    durationMs: { type: 'integer', minimum: 100, maximum: 120_000 },
    warmupMs: { type: 'integer', minimum: 0, maximum: 60_000 },
    connections: { type: 'array', minItems: 1, maxItems: 8, uniqueItems: true, items: { type: 'integer', minimum: 1, maximum: 10_000 } },
    payloadBytes: { type: 'array', minItems: 1, maxItems: 8, uniqueItems: true, items: { type: 'integer', minimum: 1, maximum: 16 * 1024 * 1024 } },
    modes: { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { enum: MODES } },
    repetitions: { type: 'integer', minimum: 1, maximum: 20 },
    workers: { type: 'integer', minimum: 1, maximum: 256 },
  },
} as const

const startHints = {
  'body/suite': 'must be the name of a suite in the suites folder (letters, digits, "_", "-")',
  'body/workloads': `must be built-in handlers (${BENCH_HANDLERS.join(', ')}) or workload names of the suite`,
  'body/peers': `must be true, false, or a list of peers (${PEER_NAMES.join(', ')})`,
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: RUN_ID_PATTERN } },
} as const
const idHints = { 'params/id': 'must be a run id (12 hex digits)' }

/** The body's overrides: the schema admits only SuiteOverrides' own field names (BODY_FIELDS). */
function overridesOf ({ suite: _suite, ...overrides }: StartBody): SuiteOverrides {
  return overrides
}

/** The suite of a start request, normalized; a 400 for an unknown suite or a bad override. */
export function suiteOf (body: StartBody, suitesDir: string): SuiteConfig {
  if (!listSuites(suitesDir).includes(body.suite)) {
    throw errors.BAD_RUN_REQUEST(`unknown suite "${body.suite}" (expected one of: ${listSuites(suitesDir).join(', ') || 'none: the suites folder is empty'})`)
  }
  for (const w of body.workloads ?? []) {
    // loadSuite would take an unknown name as a handler file relative to the working directory: only built-ins or the suite's workloads
    if (!(BENCH_HANDLERS as readonly string[]).includes(w)) {
      let spec: { workloads?: Array<{ name?: string, handler?: string }> } = {}
      try {
        spec = JSON.parse(readFileSync(join(suitesDir, `${body.suite}.json`), 'utf8')) as typeof spec
      } catch { /* loadSuite says what is wrong with the file */ }
      if (!(Array.isArray(spec.workloads) ? spec.workloads : []).some((x) => x?.name === w || x?.handler === w)) {
        throw errors.BAD_RUN_REQUEST(`workload "${w}" is neither a built-in handler (${BENCH_HANDLERS.join(', ')}) nor a workload of suite ${body.suite}`)
      }
    }
  }
  try {
    return loadSuite(resolveSuitePath(body.suite, suitesDir), overridesOf(body))
  } catch (e) {
    if (e instanceof SuiteError) throw errors.BAD_RUN_REQUEST(e.message.replace(/^suite \/\S+: /, `suite ${body.suite}: `))
    throw e
  }
}

interface SuiteChoice { name: string, description: string }

function suiteChoices (dir: string): SuiteChoice[] {
  return listSuites(dir).map((name) => {
    let description = ''
    try {
      description = String((JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { description?: unknown }).description ?? '')
    } catch { /* shown without a description */ }
    return { name, description }
  })
}

/** Server-sent events of a run: the past ones, then live ones, ending after done/failed. */
function streamEvents (run: Run, raw: import('node:http').ServerResponse, lastEventId: number, open: Set<() => void>): void {
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  raw.write('retry: 2000\n\n')
  let ended = false
  let unsubscribe: (() => void) | null = null
  const heartbeat = setInterval(() => { if (!ended) raw.write(': keep-alive\n\n') }, 15_000)
  const end = (): void => {
    if (ended) return
    ended = true
    clearInterval(heartbeat)
    unsubscribe?.()
    open.delete(end)
    raw.end()
  }
  open.add(end)
  raw.on('close', end)
  const send = (e: RunEvent): void => {
    if (ended) return
    raw.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`)
    if (e.type === 'done' || e.type === 'failed') end()
  }
  unsubscribe = run.subscribe(send, lastEventId)
  if (ended) unsubscribe()
}

export function registerRunRoutes (app: FastifyInstance, ctx: DashboardContext): void {
  /** open event streams: ended when the dashboard closes */
  const open = new Set<() => void>()
  app.addHook('preClose', async () => {
    await ctx.runs.close()
    for (const end of [...open]) end()
  })

  app.post<{ Body: StartBody }>('/api/runs', { schema: { body: startBodySchema }, config: { hints: startHints } }, async (request, reply) => {
    // a page of another origin must not start runs on this machine
    const origin = request.headers.origin
    if (origin !== undefined && origin !== 'null') {
      let host = ''
      try { host = new URL(origin).host } catch { /* compared as empty */ }
      if (host !== request.headers.host) throw errors.CROSS_ORIGIN(origin)
    }
    const suite = suiteOf(request.body, ctx.suitesDir)
    const run = ctx.runs.start(suite)
    request.log.info({ run: run.id, suite: suite.name, results: run.resultsName }, 'suite run started')
    return reply.code(202).send({
      ...run.info(),
      events: `/api/runs/${run.id}/events`,
      page: `/runs/new?id=${run.id}`,
      report: `/runs/${encodeURIComponent(run.resultsName)}`,
    })
  })

  app.get('/api/runs', async () => ({ running: ctx.runs.current?.info() ?? null, runs: ctx.runs.list() }))

  app.get<{ Params: { id: string } }>('/api/runs/:id', { schema: { params: idParams }, config: { hints: idHints } }, async (request, reply) => {
    const run = ctx.runs.get(request.params.id)
    if (run === undefined) throw errors.RUN_NOT_FOUND(request.params.id)
    return { ...run.info(), events: run.events }
  })

  app.delete<{ Params: { id: string } }>('/api/runs/:id', { schema: { params: idParams }, config: { hints: idHints } }, async (request, reply) => {
    const run = ctx.runs.get(request.params.id)
    if (run === undefined) throw errors.RUN_NOT_FOUND(request.params.id)
    const stopped = await ctx.runs.stop(run.id)
    return { ...run.info(), stopped }
  })

  app.get<{ Params: { id: string } }>('/api/runs/:id/events', { schema: { params: idParams }, config: { hints: idHints } }, async (request, reply) => {
    const run = ctx.runs.get(request.params.id)
    if (run === undefined) throw errors.RUN_NOT_FOUND(request.params.id)
    const last = Number(request.headers['last-event-id'])
    reply.hijack()
    streamEvents(run, reply.raw, Number.isInteger(last) && last > 0 ? last : 0, open)
  })

  app.get<{ Querystring: { id?: string, suite?: string } }>('/runs/new', {
    schema: {
      querystring: {
        type: 'object',
        propertyNames: { enum: ['id', 'suite'] },
        properties: { id: { type: 'string', pattern: RUN_ID_PATTERN }, suite: { type: 'string', pattern: SUITE_PATTERN } },
      },
    },
    config: { page: true, hints: { 'querystring/id': idHints['params/id'], 'querystring/suite': startHints['body/suite'] } },
  }, async (request, reply) => {
    const suites = suiteChoices(ctx.suitesDir)
    const watch = request.query.id
    if (watch !== undefined && ctx.runs.get(watch) === undefined) {
      throw errors.RUN_NOT_FOUND(watch, 'runs are kept while the dashboard runs')
    }
    // another tab (or another person) started the run in progress: offer it instead of a 409 later
    const running = ctx.runs.current?.info() ?? null
    const selected = request.query.suite ?? (suites.some((s) => s.name === 'quick') ? 'quick' : suites[0]?.name ?? '')
    const options = suites.map((s) => `<option value="${esc(s.name)}"${s.name === selected ? ' selected' : ''} title="${esc(s.description)}">${esc(s.name)}</option>`).join('')
    const checks = (name: string, values: readonly string[]): string => values.map((v) =>
      `<label style="display:inline-flex;flex-direction:row;gap:.3rem;margin-right:.8rem"><input type="checkbox" name="${esc(name)}" value="${esc(v)}">${esc(v)}</label>`).join(' ')
    const body = `<h1>Run a suite</h1>
<p class="muted">Results go to <code>${esc(ctx.resultsDir)}</code>. One run at a time; the servers it starts are stopped when it ends, is stopped, or the dashboard stops.</p>
${running === null || watch !== undefined ? '' : `<p class="banner" id="in-progress">A run is in progress: <a id="in-progress-link" href="/runs/new?id=${esc(running.id)}">watch run ${esc(running.id)} (suite ${esc(running.suite)}, ${esc(running.percent)}% done)</a>.</p>`}
<form id="run-form" autocomplete="off">
<fieldset><legend>suite</legend>
<label>suite<select name="suite" id="suite">${options}</select></label>
<p class="muted" id="suite-description"></p>
</fieldset>
<fieldset><legend>override (optional: empty keeps the suite's)</legend>
<div><span class="muted">models:</span> ${checks('models', modelNames())}</div>
<div><span class="muted">workloads:</span> ${checks('workloads', BENCH_HANDLERS)}</div>
<div style="display:flex;gap:1rem;flex-wrap:wrap;margin-top:.5rem">
<label>peers<select name="peers"><option value="">suite's</option><option value="none">none</option><option value="all">all</option></select></label>
<label>duration (ms)<input name="durationMs" type="number" min="100" max="120000" step="100"></label>
<label>warmup (ms)<input name="warmupMs" type="number" min="0" max="60000" step="100"></label>
<label>connections<input name="connections" placeholder="e.g. 1,16,64"></label>
<label>repetitions<input name="repetitions" type="number" min="1" max="20"></label>
</div>
</fieldset>
<button type="submit" id="start">start</button>
</form>
<section id="run" hidden>
<h2 id="run-title">Run</h2>
<progress id="progress" max="100" value="0"></progress>
<p id="status" aria-live="polite">starting…</p>
<p id="result"></p>
<figure id="throughput-figure" class="chart-box" hidden><figcaption>Throughput as the scenarios finish (req/s; the median of the repetitions so far)</figcaption><svg id="throughput" class="bars" width="100%"></svg></figure>
<ol id="log"></ol>
<button type="button" id="stop" hidden>stop the run</button>
</section>
<p class="error" id="error" role="alert"></p>`
    const script = `const SUITES = ${jsonForScript(suites)};
const WATCH = ${jsonForScript(watch ?? null)};
const $ = (id) => document.getElementById(id);
const form = $('run-form');
function describe () { const s = SUITES.find((x) => x.name === form.suite.value); $('suite-description').textContent = s ? s.description : ''; }
form.suite.addEventListener('change', describe); describe();
function bodyOf () {
  const b = { suite: form.suite.value };
  const all = (name) => [...form.querySelectorAll('input[name="' + name + '"]:checked')].map((i) => i.value);
  if (all('models').length) b.models = all('models');
  if (all('workloads').length) b.workloads = all('workloads');
  if (form.peers.value === 'none') b.peers = false;
  if (form.peers.value === 'all') b.peers = true;
  for (const k of ['durationMs', 'warmupMs', 'repetitions']) if (form[k].value !== '') b[k] = Number(form[k].value);
  if (form.connections.value.trim() !== '') b.connections = form.connections.value.split(',').map((s) => Number(s.trim()));
  return b;
}
// throughput of each finished scenario, drawn as it comes (median of its repetitions so far)
const done = new Map();
function median (xs) { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; }
function drawThroughput () {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = $('throughput');
  const rows = [...done].map(([label, xs]) => ({ label, v: median(xs) }));
  const max = Math.max(1, ...rows.map((r) => r.v));
  const W = svg.getBoundingClientRect().width || 900, L = Math.min(420, 20 + 7 * Math.max(...rows.map((r) => r.label.length))), R = 90, H = 26;
  svg.setAttribute('height', String(rows.length * H + 8));
  const kids = [];
  rows.forEach((r, i) => {
    const y = 4 + i * H;
    const w = Math.max(1, (W - L - R) * r.v / max);
    const t = document.createElementNS(NS, 'text'); t.setAttribute('x', L - 6); t.setAttribute('y', y + 16); t.setAttribute('text-anchor', 'end'); t.setAttribute('font-size', '12'); t.textContent = r.label; kids.push(t);
    const b = document.createElementNS(NS, 'rect'); b.setAttribute('x', L); b.setAttribute('y', y + 3); b.setAttribute('width', w.toFixed(1)); b.setAttribute('height', H - 8); b.setAttribute('fill', '#2456c9'); b.dataset.scenario = r.label; kids.push(b);
    const v = document.createElementNS(NS, 'text'); v.setAttribute('x', L + w + 6); v.setAttribute('y', y + 16); v.setAttribute('font-size', '12'); v.textContent = Math.round(r.v).toLocaleString('en-US'); kids.push(v);
  });
  svg.replaceChildren(...kids);
  $('throughput-figure').hidden = rows.length === 0;
}
function li (text, cls) { const e = document.createElement('li'); e.textContent = text; if (cls) e.className = cls; $('log').appendChild(e); }
function watch (id, suite) {
  $('run').hidden = false; $('start').disabled = true; $('stop').hidden = false;
  $('run-title').textContent = 'Run ' + id + (suite ? ' (suite ' + suite + ')' : '');
  history.replaceState(null, '', '/runs/new?id=' + id);
  $('stop').onclick = () => { $('stop').disabled = true; fetch('/api/runs/' + id, { method: 'DELETE' }); };
  const es = new EventSource('/api/runs/' + id + '/events');
  es.addEventListener('start', (m) => { const d = JSON.parse(m.data); $('status').textContent = d.runs + ' run(s) of ' + d.scenarios + ' scenario(s), about ' + d.eta; });
  es.addEventListener('note', (m) => li(JSON.parse(m.data).message, 'muted'));
  es.addEventListener('skip', (m) => { const d = JSON.parse(m.data); li('skipped: ' + d.scenario + ': ' + d.reason, 'muted'); });
  es.addEventListener('progress', (m) => {
    const d = JSON.parse(m.data);
    $('progress').value = d.percent;
    if (d.phase === 'running') {
      $('status').textContent = '[' + (d.index + 1) + '/' + d.runs + '] ' + d.scenario + ' #' + d.repetition + ' · ' + d.percent + '% · ETA ' + d.eta;
    } else {
      const what = d.status === 'ok' ? 'ok ' + Number(d.requestsPerSec).toLocaleString('en-US') + ' req/s, p99 ' + Number(d.p99Ms).toFixed(2) + ' ms' : d.status.toUpperCase() + (d.problems && d.problems.length ? ': ' + d.problems.join('; ') : '');
      li('[' + (d.index + 1) + '/' + d.runs + '] ' + d.scenario + ' #' + d.repetition + ': ' + what, d.status === 'ok' ? '' : 'error');
      if (d.status === 'ok' && typeof d.requestsPerSec === 'number') { done.set(d.scenario, [...(done.get(d.scenario) || []), d.requestsPerSec]); drawThroughput(); }
      $('status').textContent = d.percent + '% · ETA ' + d.eta;
    }
  });
  es.addEventListener('done', (m) => {
    es.close();
    const d = JSON.parse(m.data);
    $('progress').value = d.percent; $('stop').hidden = true; $('start').disabled = false;
    $('status').textContent = (d.complete ? 'finished' : 'stopped (' + (d.interrupted || 'interrupted') + '): partial results') + ': ' + d.ok + ' ok, ' + d.failed + ' failed, ' + d.skipped + ' skipped';
    const a = document.createElement('a'); a.id = 'report-link'; a.href = d.url; a.textContent = 'open the report: ' + d.name;
    $('result').replaceChildren(a);
  });
  es.addEventListener('failed', (m) => { es.close(); $('stop').hidden = true; $('start').disabled = false; $('error').textContent = 'the run failed: ' + JSON.parse(m.data).message; });
}
form.addEventListener('submit', async (ev) => {
  ev.preventDefault(); $('error').textContent = ''; $('log').replaceChildren(); $('result').replaceChildren(); $('progress').value = 0; done.clear(); drawThroughput();
  $('start').disabled = true;
  try {
    const r = await fetch('/api/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bodyOf()) });
    const d = await r.json();
    if (!r.ok) {
      $('error').textContent = d.message; $('start').disabled = false;
      if (r.status === 409) {
        // started elsewhere (another tab): a link to follow it here
        const cur = await (await fetch('/api/runs')).json();
        if (cur.running) { const a = document.createElement('a'); a.id = 'in-progress-link'; a.href = '/runs/new?id=' + cur.running.id; a.textContent = ' watch run ' + cur.running.id; $('error').append(a); }
      }
      return;
    }
    watch(d.id, d.suite);
  } catch (e) { $('error').textContent = String(e); $('start').disabled = false; }
});
if (WATCH) watch(WATCH, null);`
    return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(page({ title: 'Run a suite', body, script }))
  })
}
