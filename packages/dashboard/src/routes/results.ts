/** The results folder: the index page, one run's report, and the JSON API. */
import type { FastifyInstance } from 'fastify'
import { buildReport, renderReportHtml } from '@echoplex/report'
import type { DashboardContext } from '../context.js'
import { NAME_HINT } from '../context.js'
import { CSP, esc, formatBytes, formatDate, formatDuration, page } from '../html.js'
import { NAME_PATTERN, type ResultsEntry } from '../results-store.js'

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const

const hints = { 'params/name': NAME_HINT }

function badge (status: string): string {
  return `<span class="badge ${esc(status)}">${esc(status)}</span>`
}

function resultsTable (entries: ResultsEntry[]): string {
  if (entries.length === 0) {
    return '<p class="muted" id="no-results">No results yet. <a href="/runs/new">Run a suite</a>, or run <code>echoplex bench</code>.</p>'
  }
  const rows = entries.map((e) => {
    const link = `/runs/${encodeURIComponent(e.name)}`
    if (e.status === 'invalid') {
      return `<tr class="result invalid" data-name="${esc(e.name)}"><td>${esc(e.name)}</td><td colspan="4" class="error">${esc(e.error)}</td><td>${badge('invalid')}</td><td class="num">${esc(formatBytes(e.sizeBytes))}</td><td></td></tr>`
    }
    const counts = [`${e.ok} ok`, e.failed > 0 ? `${e.failed} failed` : '', e.skipped > 0 ? `${e.skipped} skipped` : ''].filter((s) => s !== '').join(', ')
    return `<tr class="result" data-name="${esc(e.name)}">
<td><a class="report-link" href="${esc(link)}">${esc(e.name)}</a></td>
<td title="${esc(e.description)}">${esc(e.suite)}</td>
<td>${esc(formatDate(e.startedAt))}</td>
<td class="num">${esc(formatDuration(e.durationMs))}</td>
<td class="num">${e.scenarios} <span class="muted">(${esc(counts)})</span></td>
<td>${badge(e.status)}</td>
<td class="num">${esc(formatBytes(e.sizeBytes))}</td>
<td><a href="/api/results/${esc(encodeURIComponent(e.name))}">JSON</a></td>
</tr>`
  })
  return `<table id="results">
<thead><tr><th>results file</th><th>suite</th><th>started</th><th class="num">took</th><th class="num">scenarios</th><th>status</th><th class="num">size</th><th></th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`
}

export function compareForm (entries: ResultsEntry[], base = '', head = ''): string {
  const valid = entries.filter((e) => e.status !== 'invalid')
  if (valid.length < 2) return '<p class="muted">Two results files are needed to compare.</p>'
  const options = (selected: string): string => valid.map((e) =>
    `<option value="${esc(e.name)}"${e.name === selected ? ' selected' : ''}>${esc(e.name)}</option>`).join('')
  // default: the second newest as the base, the newest as the head
  return `<form class="inline" method="get" action="/compare" id="compare-form">
<label>base (before)<select name="base">${options(base === '' ? valid[1]!.name : base)}</select></label>
<label>head (after)<select name="head">${options(head === '' ? valid[0]!.name : head)}</select></label>
<button type="submit">compare</button>
</form>`
}

export function registerResultsRoutes (app: FastifyInstance, ctx: DashboardContext): void {
  app.get('/', { config: { page: true } }, async (_request, reply) => {
    const active = ctx.runs.current
    const entries = ctx.store.list(active?.resultsName ?? null)
    const banner = active === null
      ? ''
      : `<p id="active-run">A run of suite <b>${esc(active.suite.name)}</b> is in progress (${active.percent}%): <a href="/runs/new?id=${esc(active.id)}">watch it</a>.</p>`
    const body = `<h1>Benchmark results</h1>
${banner}
<p class="muted">Folder: <code>${esc(ctx.resultsDir)}</code> · <a href="/runs/new">run a suite</a></p>
${resultsTable(entries)}
<h2>Compare two runs</h2>
${compareForm(entries)}
<h2>Watch a running server</h2>
<form class="inline" method="get" action="/ps">
<label>port<input name="port" type="number" min="1" max="65535" placeholder="7000"></label>
<button type="submit">process tree</button>
</form>`
    return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(page({ title: 'Results', body }))
  })

  // browsers ask for it on every page (the reports included)
  app.get('/favicon.ico', async (_request, reply) => reply
    .type('image/svg+xml')
    .header('cache-control', 'public, max-age=86400')
    .send('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M3 11h2V6H3zm4 0h2V3H7zm4 0h2V8h-2z" fill="#6fa8ff"/></svg>'))

  app.get('/api/results', async () => {
    const active = ctx.runs.current
    return { dir: ctx.resultsDir, running: active?.info() ?? null, results: ctx.store.list(active?.resultsName ?? null) }
  })

  app.get<{ Params: { name: string } }>('/api/results/:name', { schema: { params: nameParams }, config: { hints } }, async (request) => {
    return ctx.store.read(request.params.name)
  })

  app.get<{ Params: { name: string } }>('/runs/:name', { schema: { params: nameParams }, config: { page: true, hints } }, async (request, reply) => {
    const results = ctx.store.read(request.params.name)
    const html = renderReportHtml(buildReport([results], { paths: [request.params.name] }))
    return reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(withBackLink(html))
  })
}

/** Adds a small "back to the dashboard" bar at the top of a self-contained report. */
export function withBackLink (html: string): string {
  const bar = '<nav id="dashboard-nav" style="font:14px system-ui,sans-serif;padding:.4rem .8rem;background:#1d2330"><a href="/" style="color:#cfd8ea">← echoplex dashboard</a></nav>'
  const m = /<body[^>]*>/i.exec(html)
  if (m === null) return bar + html
  return html.slice(0, m.index + m[0].length) + bar + html.slice(m.index + m[0].length)
}
