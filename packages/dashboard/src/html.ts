/** Server-rendered pages: escaping, one layout, a few formatters. No external URLs anywhere. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for HTML content and attribute values. */
export const esc = (value: unknown): string => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!)

/** JSON for an inline <script>: cannot close the script element or start a comment. */
export const jsonForScript = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

/** Content-Security-Policy of every page: nothing but this origin, inline script and style allowed. */
export const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.4rem;align-items:center;flex-wrap:wrap}
header a{color:#cfd8ea;text-decoration:none}header a:hover{color:#fff}
header strong{font-size:1.1rem;letter-spacing:.02em;color:#fff}
main{padding:1rem 1.2rem;max-width:1400px}
h1{font-size:1.35rem;margin:.4rem 0 1rem}
h2{font-size:1.1rem;margin:1.4rem 0 .6rem}
table{border-collapse:collapse;background:#fff;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.num,th.num{text-align:right}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600;background:#e3e6ec}
.badge.ok{background:#d5f2dc;color:#14632b}.badge.failed,.badge.invalid{background:#fbd9d9;color:#8a1616}
.badge.partial,.badge.running{background:#fff0c2;color:#6b4e00}
form.inline{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap;background:#fff;padding:.8rem;border:1px solid #e3e6ec}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.2rem}
input,select,button{font:inherit;padding:.3rem .45rem}
button{cursor:pointer;background:#2456c9;color:#fff;border:0;border-radius:3px;padding:.4rem .9rem}
button:disabled{background:#9aa6bf;cursor:default}
.muted{color:#667085}.error{color:#8a1616}
pre{background:#fff;border:1px solid #e3e6ec;padding:.7rem;overflow:auto;font-size:.85rem}
progress{width:100%;height:1.2rem}
fieldset{border:1px solid #e3e6ec;background:#fff;margin:0 0 .8rem}
code{background:#eef0f4;padding:0 .25rem;border-radius:2px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:.8rem}
.charts figure{margin:0;background:#fff;border:1px solid #e3e6ec;padding:.4rem .6rem}
.charts figcaption{font-size:.85rem;color:#667085}
svg.live-chart{width:100%;height:200px;display:block}
.legend .key{display:inline-block;border-left:14px solid;padding:0 .8rem 0 .35rem;margin:.2rem 0;font-size:.85rem}
.chart-box{margin:.6rem 0;background:#fff;border:1px solid #e3e6ec;padding:.4rem .6rem}.chart-box figcaption{font-size:.85rem;color:#667085}
.banner{border:1px solid #f59e0b;background:#fffbeb;padding:.5rem .8rem;margin:.6rem 0}
`

export interface PageOptions {
  title: string
  body: string
  /** inline script, appended at the end of the body */
  script?: string
}

export function page ({ title, body, script }: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · echoplex dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header><strong>echoplex</strong><a href="/">results</a><a href="/compare">compare</a><a href="/runs/new">run a suite</a><a href="/ps">process tree</a></header>
<main>
${body}
</main>
${script === undefined ? '' : `<script>\n${script}\n</script>`}
</body>
</html>
`
}

export function errorPage (status: number, message: string): string {
  const title = status === 404 ? 'Not found' : status === 400 ? 'Bad request' : status === 409 ? 'Busy' : status >= 500 ? 'Server error' : `Error ${status}`
  return page({
    title,
    body: `<h1>${esc(title)}</h1>\n<p class="error" id="error">${esc(message)}</p>\n<p><a href="/">back to the results</a></p>`,
  })
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 ** 2).toFixed(1)} MiB`
}

export function formatDuration (ms: number | null): string {
  if (ms === null) return ''
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/** `2025-01-31 14:05 UTC` */
export function formatDate (iso: string | null): string {
  if (iso === null) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}
