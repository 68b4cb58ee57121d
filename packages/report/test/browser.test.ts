/**
 * The report in a real browser (headless Debian chromium driven by playwright-core) at 1400 px: it
 * leads with the models × workloads matrix, the summary's cost columns are on screen without
 * scrolling, and the charts use the page width. Screenshots go to the test output dir (.tap/, not
 * committed).
 */
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { comparePeers, readResults, type Results } from '@echoplex/results'
import { buildReport, renderReportHtml } from '../src/index.js'
import { BASE, clone } from './fixtures/synthetic.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SHOTS = fileURLToPath(new URL('../../../.tap/screenshots/report/', import.meta.url))

/** The fixture run widened to every model and five peers (copies of its scenarios under other labels). */
function everyTarget (r: Results): Results {
  const out = clone(r)
  const extra = [['event-loop', 'cluster', 'model'], ['fork', 'pool', 'model'], ['node-net', 'node-http', 'peer'], ['node-net', 'c-epoll', 'peer'], ['node-net', 'py-forking', 'peer'], ['node-net', 'py-threading', 'peer']] as const
  for (const [from, label, kind] of extra) {
    for (const s of r.scenarios.filter((x) => x.target.label === from)) {
      const c = clone(s)
      c.target = { ...c.target, kind, name: label, label }
      c.id = s.id.replace(`:${from}:`, `:${label}:`)
      out.scenarios.push(c)
    }
  }
  comparePeers(out.scenarios)
  return out
}

if (!existsSync(CHROMIUM)) {
  t.fail(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
} else {
  t.test('the report at 1400 px', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'echoplex-report-browser-'))
    let browser: Browser | null = null
    t.teardown(async () => { await browser?.close().catch(() => {}); rmSync(dir, { recursive: true, force: true }) })
    const file = join(dir, 'report.html')
    writeFileSync(file, renderReportHtml(buildReport([everyTarget(readResults(BASE))])))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 })
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    const requests: string[] = []
    page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()) })
    await page.goto(pathToFileURL(file).href)
    mkdirSync(SHOTS, { recursive: true })
    await page.screenshot({ path: join(SHOTS, 'report-top-1400.png') })
    await page.screenshot({ path: join(SHOTS, 'report-full-1400.png'), fullPage: true })
    t.comment(`screenshots: ${SHOTS}`)

    // it leads with the answer: the matrix comes before the verdicts and the summary
    const y = async (sel: string): Promise<number> => (await page.locator(sel).first().boundingBox())!.y
    t.ok(await y('table.matrix') < await y('table.verdicts'), 'matrix above the verdicts')
    t.ok(await y('table.verdicts') < await y('table.summary'), 'verdicts above the summary')
    t.ok(await y('table.matrix') < 900, 'the matrix is on the first screen')
    const matrixHead = await page.locator('table.matrix thead th').allInnerTexts()
    t.same(matrixHead.slice(0, 2), ['workload', 'winner'])
    for (const m of ['event-loop', 'cluster', 'fork', 'pool']) t.ok(matrixHead.includes(m), `matrix column ${m}`)
    // cells are coloured by their ratio to the row's best; the best is marked
    const bg = await page.locator('table.matrix td.best').first().evaluate((e) => getComputedStyle(e).backgroundColor)
    t.match(bg, /^rgb\(\d+, \d+, \d+\)$/)
    t.equal(await page.locator('table.matrix tbody tr').count(), 3, 'one row per workload group')

    // the summary fits: no horizontal scroll, and the cost columns are inside 1400 px
    const fit = await page.locator('table.summary').evaluate((tbl) => {
      const box = tbl.getBoundingClientRect()
      const wrap = tbl.parentElement!
      return { right: box.right, scroll: wrap.scrollWidth, client: wrap.clientWidth, page: document.documentElement.scrollWidth }
    })
    t.ok(fit.right <= 1400, `summary right edge ${Math.round(fit.right)} px ≤ 1400`)
    t.ok(fit.scroll <= fit.client, `no horizontal scroll in the summary (${fit.scroll} ≤ ${fit.client})`)
    t.ok(fit.page <= 1400, `the page itself does not scroll sideways (${fit.page})`)
    for (const col of ['processes', 'threads', '% of a core', 'req per server CPU-s', 'PSS', 'p99']) {
      const th = page.locator('table.summary thead th', { hasText: col }).first()
      const box = (await th.boundingBox())!
      t.ok(box.x >= 0 && box.x + box.width <= 1400, `${col} column visible at x ${Math.round(box.x)}–${Math.round(box.x + box.width)}`)
    }
    t.match(await page.locator('table.summary thead').innerText(), /req\/s\s*\(median of 2\)/, 'the derived figure says what it is')

    // details are folded except the first; its charts use the page width
    const groups = page.locator('details.group')
    t.equal(await groups.count(), 3)
    t.equal(await groups.nth(0).getAttribute('open'), '')
    t.equal(await groups.nth(1).getAttribute('open'), null)
    const content = await page.locator('body').evaluate((b) => b.clientWidth)
    const widths = await groups.nth(0).locator('svg.chart').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width))
    t.ok(widths.length >= 2, `${widths.length} charts`)
    t.ok(widths.reduce((a, w) => a + w, 0) >= 0.9 * (content - 48), `charts fill the width (${widths.map(Math.round).join(' + ')} of ${content})`)
    // the environment says what ran
    t.match(await page.locator('body').innerText(), /What ran[\s\S]*per repetition[\s\S]*measured after/)
    t.same(requests, [], 'nothing fetched')
  })
}
