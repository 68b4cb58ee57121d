/**
 * A real browser (headless Debian chromium driven by playwright-core, 1400 × 900) against the dashboard
 * listening on 127.0.0.1: the index, a report whose SVG charts rendered and whose key columns fit, a
 * tiny suite started from the page whose live progress draws throughput and ends in a link to its
 * report (and a second tab is offered the run in progress), the process-tree form, and the live view
 * of a running server under load whose charts move. Screenshots go to the test output dir (.tap/,
 * not committed).
 */
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startDashboard, type RunningDashboard } from '../src/server.js'
import { FIXTURE_NAME, FIXTURE_PATH, SUITES_DIR } from './helpers/app.js'
import { startServer } from '../../server/test/helpers/server.js'

const SHOTS = fileURLToPath(new URL('../../../.tap/screenshots/dashboard/', import.meta.url))
const shot = async (page: Page, name: string): Promise<void> => {
  mkdirSync(SHOTS, { recursive: true })
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

/** Every `th` of `selector` whose text matches one of `names` lies inside the 1400 px viewport. */
async function columnsVisible (page: Page, selector: string, names: string[]): Promise<Array<{ name: string, right: number }>> {
  const out: Array<{ name: string, right: number }> = []
  for (const name of names) {
    const box = await page.locator(`${selector} th`, { hasText: name }).first().boundingBox()
    out.push({ name, right: box === null ? Infinity : box.x + box.width })
  }
  return out
}

/**
 * Echo traffic on `conns` connections to 127.0.0.1:`port`: each writes a message whenever its last
 * one came back, until `stop()` (bounded by `maxMs`).
 */
function echoLoad (port: number, conns: number, maxMs: number): { stop: () => void } {
  const sockets = Array.from({ length: conns }, () => {
    const s = connect({ port, host: '127.0.0.1' })
    s.on('error', () => {})
    s.on('connect', () => s.write('ping'))
    s.on('data', () => { if (!s.destroyed) s.write('ping') })
    return s
  })
  const stop = (): void => { for (const s of sockets) s.destroy(); clearTimeout(timer) }
  const timer = setTimeout(stop, maxMs)
  return { stop }
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

if (!existsSync(CHROMIUM)) {
  // .ci/run installs it; without it this test cannot run (it never passes silently in CI)
  t.fail(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
} else {
  t.test('the dashboard in a real browser', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'echoplex-dashboard-browser-'))
    copyFileSync(FIXTURE_PATH, join(dir, FIXTURE_NAME))
    let dashboard: RunningDashboard | null = null
    let browser: Browser | null = null
    t.teardown(async () => {
      await browser?.close().catch(() => {})
      await dashboard?.close()
      rmSync(dir, { recursive: true, force: true })
    })
    dashboard = await startDashboard({ host: '127.0.0.1', port: 0, resultsDir: dir, suitesDir: SUITES_DIR, logLevel: 'silent' })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 })
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    page.setDefaultTimeout(20_000)
    const consoleErrors: string[] = []
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()) })
    page.on('pageerror', (e) => consoleErrors.push(String(e)))
    page.on('response', (r) => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`) })
    // nothing but the dashboard may be fetched
    const foreign: string[] = []
    page.on('request', (r) => { if (!r.url().startsWith(dashboard!.url) && !r.url().startsWith('data:')) foreign.push(r.url()) })

    await t.test('the index lists the results', async (t) => {
      const res = await page.goto(`${dashboard!.url}/`)
      t.equal(res?.status(), 200)
      t.equal(await page.title(), 'Results · echoplex dashboard')
      const link = page.locator(`#results a.report-link[href="/runs/${FIXTURE_NAME}"]`)
      t.equal(await link.count(), 1)
      t.match(await page.locator(`tr[data-name="${FIXTURE_NAME}"]`).innerText(), /tiny/)
    })

    await t.test('a report opens and its charts rendered', async (t) => {
      await Promise.all([page.waitForURL(`**/runs/${FIXTURE_NAME}`), page.locator(`a.report-link[href="/runs/${FIXTURE_NAME}"]`).click()])
      const svgs = page.locator('svg')
      t.ok(await svgs.count() >= 1, 'an <svg> chart')
      const charts = await svgs.evaluateAll((els) => els.map((e) => {
        const box = e.getBoundingClientRect()
        return { width: box.width, height: box.height, shapes: e.querySelectorAll('rect, path, line, polyline, circle').length }
      }))
      const drawn = charts.filter((c) => c.width > 0 && c.height > 0 && c.shapes > 0)
      t.ok(drawn.length >= 1, `a chart with a size and shapes (${JSON.stringify(charts.slice(0, 3))})`)
      const body = await page.locator('body').innerText()
      t.match(body, /event-loop/)
      t.match(body, /node-net/)
      // it leads with which model wins where, and the summary's cost columns are on screen at 1400 px
      t.equal(await page.locator('table.matrix').count(), 1, 'the models × workloads matrix')
      for (const c of await columnsVisible(page, 'table.summary', ['processes', 'threads', 'server CPU', 'PSS'])) {
        t.ok(c.right <= 1400, `summary column ${c.name} visible (right edge ${Math.round(c.right)} px)`)
      }
      await shot(page, 'report')
    })

    await t.test('a tiny suite started from the page shows progress and ends with a link to its report', async (t) => {
      await page.goto(`${dashboard!.url}/runs/new`)
      await page.selectOption('#suite', 'tiny')
      await page.selectOption('select[name="peers"]', 'none')
      await page.fill('input[name="durationMs"]', '1000')
      await page.fill('input[name="warmupMs"]', '100')
      await page.click('#start')
      await page.waitForSelector('#run:not([hidden])')
      // a second tab opened while it runs is offered the run in progress
      const second = await browser!.newPage({ viewport: { width: 1400, height: 900 } })
      await second.goto(`${dashboard!.url}/runs/new`)
      const offered = second.locator('#in-progress-link')
      t.equal(await offered.count(), 1, 'a link to the run in progress')
      t.match(await offered.getAttribute('href'), /^\/runs\/new\?id=[0-9a-f]{12}$/)
      await shot(second, 'second-tab')
      await second.close()
      // live progress: the status line names the running scenario with percent and ETA
      await page.waitForFunction("/^\\[1\\/1\\] echo 64B c4 keep-alive @ event-loop #1 · 0% · ETA \\d+s$/.test(document.getElementById('status').textContent)", undefined, { timeout: 30_000 })
      t.pass('progress shown while the scenario runs')
      const link = page.locator('#report-link')
      await link.waitFor({ timeout: 60_000 })
      t.equal(await page.locator('#progress').evaluate((e) => (e as unknown as { value: number }).value), 100, 'the bar is full')
      t.match(await page.locator('#log').innerText(), /\[1\/1\] echo 64B c4 keep-alive @ event-loop #1: ok [\d,]+ req\/s/)
      t.match(await page.locator('#status').innerText(), /^finished: 1 ok, 0 failed/)
      // throughput was drawn as the scenario finished
      const bars = page.locator('#throughput rect')
      t.equal(await bars.count(), 1, 'one bar per finished scenario')
      t.equal(await bars.first().getAttribute('data-scenario'), 'echo 64B c4 keep-alive @ event-loop')
      t.ok(Number(await bars.first().getAttribute('width')) > 10, 'with a length')
      await shot(page, 'run-finished')
      const href = await link.getAttribute('href')
      t.match(href, /^\/runs\/tiny-.*\.json$/)
      t.ok(existsSync(join(dir, decodeURIComponent(href!.slice('/runs/'.length)))), 'the results file exists')
      await Promise.all([page.waitForURL(`**${href}`), link.click()])
      t.ok(await page.locator('svg').count() >= 1, 'the new report has charts')
      // and the index lists the new run
      await page.goto(`${dashboard!.url}/`)
      t.equal(await page.locator('#results tr.result').count(), 2)
    })

    await t.test('a process tree refreshes every second', async (t) => {
      await page.goto(`${dashboard!.url}/ps?pid=${process.pid}`)
      t.equal(await page.locator(`#tree tbody tr[data-pid="${process.pid}"]`).count(), 1, 'this process is the root')
      await page.waitForFunction('/updated .* refreshes every second/.test(document.getElementById("updated").textContent)')
      const before = await page.locator('#updated').innerText()
      await page.waitForFunction((text) => (globalThis as any).document.getElementById('updated').textContent !== text, before, { timeout: 5000 })
      t.pass('refreshed')
      t.match(await page.locator('#totals').innerText(), /^\d+ process\(es\), \d+ thread\(s\), RSS [\d.]+ MiB/)
      await page.goto(`${dashboard!.url}/`) // stop polling this process's tree before servers start under it
    })

    await t.test('the process-tree form ignores the empty field', async (t) => {
      const server = await startServer(t, ['--model', 'event-loop', '--handler', 'echo'])
      await page.goto(`${dashboard!.url}/ps`)
      await page.fill('#ps-form input[name="port"]', String(server.port))
      await Promise.all([page.waitForURL(/\/ps\?port=\d+&pid=$/), page.click('#ps-form button')])
      t.equal(await page.locator(`#tree tbody tr[data-pid="${server.pid}"]`).count(), 1, 'the tree of the server on that port, though pid was sent empty')
      await page.goto(`${dashboard!.url}/`) // stop polling before the server stops
    })

    await t.test('the live view of a server under load: per-process charts and requests/s move', async (t) => {
      const server = await startServer(t, ['--model', 'cluster', '--workers', '2', '--handler', 'echo'])
      const load = echoLoad(server.port, 8, 30_000)
      t.teardown(load.stop)
      await page.goto(`${dashboard!.url}/ps?port=${server.port}`)
      const rows = page.locator('#tree tbody tr')
      await page.waitForFunction(() => document.querySelectorAll('#tree tbody tr').length === 3)
      t.equal(await rows.count(), 3, 'primary and two workers')
      for (const c of await columnsVisible(page, '#tree', ['CPU %', 'conns', 'RSS MiB'])) t.ok(c.right <= 1400, `${c.name} visible`)
      const points = async (id: string): Promise<number> => Number(await page.locator(`#${id}`).getAttribute('data-points'))
      const before = await points('chart-cpu')
      // requests/s needs two stats readings: the page signals the server (SIGUSR2) on each refresh
      await page.waitForFunction(() => Number(document.getElementById('chart-rps')!.getAttribute('data-points')) >= 2, undefined, { timeout: 15_000 })
      t.ok(await points('chart-cpu') > before, `the CPU chart gained points (${before} → ${await points('chart-cpu')})`)
      t.equal(await page.locator('#chart-cpu').getAttribute('data-lines'), '3', 'one CPU line per process')
      t.equal(await page.locator('#chart-rss').getAttribute('data-lines'), '3', 'one RSS line per process')
      t.equal(await page.locator('#chart-conns').getAttribute('data-lines'), '3', 'one connections line per process')
      const note = await page.locator('#stats-note').innerText()
      const rps = Number(/requests\/s now: ([\d,]+)/.exec(note)?.[1]?.replace(/,/g, ''))
      t.ok(rps > 0, `requests/s from the server's stats: ${note}`)
      t.match(await page.locator('#legend').innerText(), /primary \d+[\s\S]*worker \d+[\s\S]*worker \d+/)
      await shot(page, 'live-view')
      load.stop()
      await page.goto(`${dashboard!.url}/`) // stop polling before the server stops
    })

    t.same(consoleErrors, [], 'no errors in the page')
    t.same(foreign, [], 'no request leaves the dashboard')
  })
}
