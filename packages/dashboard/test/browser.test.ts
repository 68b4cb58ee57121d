/**
 * A real browser (headless Debian chromium driven by playwright-core) against the dashboard listening
 * on 127.0.0.1: the index, a report whose SVG charts rendered, and a tiny suite started from the
 * page whose live progress ends in a link to its report.
 */
import t from 'tap'
import { existsSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { startDashboard, type RunningDashboard } from '../src/server.js'
import { FIXTURE_NAME, FIXTURE_PATH, SUITES_DIR } from './helpers/app.js'

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
    const page = await browser.newPage()
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
    })

    await t.test('a tiny suite started from the page shows progress and ends with a link to its report', async (t) => {
      await page.goto(`${dashboard!.url}/runs/new`)
      await page.selectOption('#suite', 'tiny')
      await page.selectOption('select[name="peers"]', 'none')
      await page.fill('input[name="durationMs"]', '1000')
      await page.fill('input[name="warmupMs"]', '100')
      await page.click('#start')
      await page.waitForSelector('#run:not([hidden])')
      // live progress: the status line names the running scenario with percent and ETA
      await page.waitForFunction("/^\\[1\\/1\\] echo 64B c4 keep-alive @ event-loop #1 · 0% · ETA \\d+s$/.test(document.getElementById('status').textContent)", undefined, { timeout: 30_000 })
      t.pass('progress shown while the scenario runs')
      const link = page.locator('#report-link')
      await link.waitFor({ timeout: 60_000 })
      t.equal(await page.locator('#progress').evaluate((e) => (e as unknown as { value: number }).value), 100, 'the bar is full')
      t.match(await page.locator('#log').innerText(), /\[1\/1\] echo 64B c4 keep-alive @ event-loop #1: ok [\d,]+ req\/s/)
      t.match(await page.locator('#status').innerText(), /^finished: 1 ok, 0 failed/)
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
    })

    t.same(consoleErrors, [], 'no errors in the page')
    t.same(foreign, [], 'no request leaves the dashboard')
  })
}
