/** Dashboard routes through fastify.inject: listing, reports, compare, validation, path traversal, runs, ps. */
import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readResults } from '@echoplex/results'
import { childrenOf, dashboard, FIXTURE_NAME, FIXTURE_PATH, parseSse, sleep } from './helpers/app.js'
import { startServer } from '../../server/test/helpers/server.js'

const SECRET = 'TOP-SECRET-DO-NOT-SERVE'

t.test('GET /api/results lists the results files with suite, date, scenarios and status', async (t) => {
  const { app, dir } = await dashboard(t)
  writeFileSync(join(dir, 'broken.json'), '{ not json')
  writeFileSync(join(dir, 'notes.txt'), 'not results')
  const res = await app.inject('/api/results')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.dir, dir)
  t.equal(body.running, null)
  const names = body.results.map((r: { name: string }) => r.name)
  t.same(names.sort(), ['broken.json', FIXTURE_NAME].sort(), 'json files only')
  const entry = body.results.find((r: { name: string }) => r.name === FIXTURE_NAME)
  t.match(entry, { suite: 'tiny', scenarios: 2, ok: 2, failed: 0, status: 'ok', complete: true, error: null })
  t.match(entry.startedAt, /^\d{4}-\d\d-\d\dT/)
  const broken = body.results.find((r: { name: string }) => r.name === 'broken.json')
  t.equal(broken.status, 'invalid')
  t.match(broken.error, /not valid JSON/)
  t.notMatch(broken.error, dir, 'no absolute path in the reason')
})

t.test('GET / is an HTML index linking every report', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.headers['content-security-policy'], /default-src 'none'/)
  t.match(res.body, `href="/runs/${FIXTURE_NAME}"`)
  t.match(res.body, /<td[^>]*>tiny<\/td>/)
  t.match(res.body, /class="badge ok"/)
  t.notMatch(res.body, /https?:\/\//, 'no external URL')
})

t.test('an empty results folder: an empty list and a hint', async (t) => {
  const { app } = await dashboard(t, false)
  t.same((await app.inject('/api/results')).json().results, [])
  t.match((await app.inject('/')).body, /id="no-results"/)
})

t.test('GET /api/results/:name returns the results JSON', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject(`/api/results/${FIXTURE_NAME}`)
  t.equal(res.statusCode, 200)
  t.same(res.json(), readResults(FIXTURE_PATH))
})

t.test('GET /runs/:name renders the report of that run', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject(`/runs/${FIXTURE_NAME}`)
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, /<svg[\s>]/, 'charts as SVG')
  t.match(res.body, 'event-loop')
  t.match(res.body, 'node-net')
  t.match(res.body, 'id="dashboard-nav"', 'a way back to the dashboard')
  t.notMatch(res.body, /<script[^>]+src=["']?https?:/i, 'no external script')
  t.notMatch(res.body, /<link[^>]+href=["']?https?:/i, 'no external stylesheet')
})

t.test('GET /compare: a form, or the comparison of two runs', async (t) => {
  const { app, dir } = await dashboard(t)
  const head = FIXTURE_NAME.replace(/\.json$/, '-again.json')
  copyFileSync(FIXTURE_PATH, join(dir, head))
  const form = await app.inject('/compare')
  t.equal(form.statusCode, 200)
  t.match(form.body, /<form[^>]+id="compare-form"/)
  t.match(form.body, `<option value="${head}"`)
  const res = await app.inject({ url: '/compare', query: { base: FIXTURE_NAME, head } })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, 'event-loop')
  const one = await app.inject({ url: '/compare', query: { base: FIXTURE_NAME } })
  t.equal(one.statusCode, 400)
  t.match(one.body, /give both base and head/)
  const missing = await app.inject({ url: '/compare', query: { base: FIXTURE_NAME, head: 'nope.json' } })
  t.equal(missing.statusCode, 404)
  t.match(missing.body, /no results file named &quot;nope\.json&quot;/)
})

t.test('a results file outside the folder is never read', async (t) => {
  const { app, dir } = await dashboard(t)
  // a secret next to the results folder, a valid results file outside it, and ways to reach them
  const outside = mkdtempSync(join(tmpdir(), 'echoplex-outside-'))
  t.teardown(() => rmSync(outside, { recursive: true, force: true }))
  writeFileSync(join(outside, 'secret.json'), JSON.stringify({ schemaVersion: 1, secret: SECRET }))
  const outsideResults = join(outside, 'elsewhere.json')
  copyFileSync(FIXTURE_PATH, outsideResults)
  symlinkSync(join(outside, 'secret.json'), join(dir, 'link-secret.json'))
  symlinkSync(outsideResults, join(dir, 'link-results.json'))
  symlinkSync(outside, join(dir, 'sub.json'))
  mkdirSync(join(dir, 'folder.json'))
  writeFileSync(join(dir, '.hidden.json'), '{}')

  const rel = `..%2F${outside.split('/').pop()}%2Felsewhere.json`
  const attempts: Array<[string, number[]]> = [
    ['..%2F..%2F..%2Fetc%2Fpasswd', [400]],
    [rel, [400]],
    ['..%252F..%252Fetc%252Fpasswd.json', [400]],
    [encodeURIComponent(outsideResults), [400]],
    ['%2Fetc%2Fpasswd', [400]],
    ['..%5C..%5Csecret.json', [400]],
    ['x.json%00.txt', [400]],
    ['.hidden.json', [400]],
    ['link-secret.json', [404]],
    ['link-results.json', [404]],
    ['sub.json', [404]],
    ['folder.json', [404]],
    ['missing.json', [404]],
  ]
  for (const prefix of ['/api/results/', '/runs/']) {
    for (const [name, codes] of attempts) {
      const res = await app.inject(prefix + name)
      t.ok(codes.includes(res.statusCode), `${prefix}${name} → ${res.statusCode}`)
      t.notMatch(res.body, SECRET, `${prefix}${name}: secret not served`)
      t.notMatch(res.body, /root:x:0:0/, `${prefix}${name}: /etc/passwd not served`)
      t.notMatch(res.body, /"scenarios"/, `${prefix}${name}: no results served`)
    }
  }
  const bad = await app.inject('/api/results/..%2F..%2Fetc%2Fpasswd')
  t.match(bad.json(), { statusCode: 400, error: 'Bad Request', message: /^name: must be the name of a results file/ })
  const compare = await app.inject({ url: '/compare', query: { base: FIXTURE_NAME, head: 'link-results.json' } })
  t.equal(compare.statusCode, 404)
  const compare2 = await app.inject({ url: '/compare', query: { base: FIXTURE_NAME, head: '../elsewhere.json' } })
  t.equal(compare2.statusCode, 400)
  // the listing leaves out what cannot be read
  const names = (await app.inject('/api/results')).json().results.map((r: { name: string }) => r.name)
  t.same(names, [FIXTURE_NAME], 'symlinks out, folders and hidden files are not listed')
})

t.test('an invalid results file: 422 with the reason', async (t) => {
  const { app, dir } = await dashboard(t)
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ schemaVersion: 3 }))
  const res = await app.inject('/api/results/other.json')
  t.equal(res.statusCode, 422)
  t.match(res.json().message, /schemaVersion 3 is not supported/)
  t.equal(res.json().code, 'EPX_BAD_RESULTS', 'the catalogue code, whose entry gives the 422')
  t.notMatch(res.json().message, dir)
  const page = await app.inject('/runs/other.json')
  t.equal(page.statusCode, 422)
  t.match(page.headers['content-type'], /^text\/html/)
})

t.test('unknown routes: 404', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject('/api/nothing')
  t.equal(res.statusCode, 404)
  t.match(res.json(), { statusCode: 404, message: /no route GET \/api\/nothing/ })
  const page = await app.inject({ url: '/nothing', headers: { accept: 'text/html' } })
  t.equal(page.statusCode, 404)
  t.match(page.headers['content-type'], /^text\/html/)
})

t.test('POST /api/runs validates its body with a clear message', async (t) => {
  const { app } = await dashboard(t)
  const post = (payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/runs', payload: payload as object, headers })
  const cases: Array<[unknown, RegExp]> = [
    [{}, /^body: missing "suite" \(must be the name of a suite/],
    [{ suite: '../../etc/passwd' }, /^suite: must be the name of a suite/],
    [{ suite: 'nope' }, /^unknown suite "nope" \(expected one of: tiny\)/],
    [{ suite: 'tiny', models: ['threads'] }, /^models\.0: must be one of: "event-loop", "cluster", "fork", "fork-reuse", "pool"/],
    [{ suite: 'tiny', models: [] }, /^models: must NOT have fewer than 1 items/],
    [{ suite: 'tiny', durationMs: 5 }, /^durationMs: must be >= 100/],
    [{ suite: 'tiny', durationMs: 'long' }, /^durationMs: must be integer/],
    [{ suite: 'tiny', connections: [0] }, /^connections\.0: must be >= 1/],
    [{ suite: 'tiny', peers: 'some' }, /^peers: must be true, false, or a list of peers/],
    [{ suite: 'tiny', workloads: ['/etc/passwd'] }, /^workloads\.0: must be built-in handlers/],
    [{ suite: 'tiny', workloads: ['chat'] }, /^workload "chat" is neither a built-in handler/],
    [{ suite: 'tiny', frobnicate: true }, /^body: unknown field "frobnicate"/],
  ]
  for (const [payload, message] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message }, JSON.stringify(payload))
  }
  const text = await app.inject({ method: 'POST', url: '/api/runs', payload: 'suite=tiny', headers: { 'content-type': 'text/plain' } })
  t.equal(text.statusCode, 400, 'only JSON objects')
  t.match(text.json().message, /^body: must be object/)
  const form = await app.inject({ method: 'POST', url: '/api/runs', payload: 'suite=tiny', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 415, 'no form posts')
  const broken = await app.inject({ method: 'POST', url: '/api/runs', payload: '{"suite":', headers: { 'content-type': 'application/json' } })
  t.equal(broken.statusCode, 400)
  t.match(broken.json().message, /JSON/)
  const cross = await post({ suite: 'tiny' }, { origin: 'http://evil.example' })
  t.equal(cross.statusCode, 403, 'another origin cannot start runs')
  t.equal((await app.inject('/api/runs')).json().running, null, 'nothing was started')
})

t.test('POST /api/runs starts a run: one at a time (409), live events, results, report', async (t) => {
  const { app, dir } = await dashboard(t)
  const body = { suite: 'tiny', peers: false, durationMs: 300, warmupMs: 100 }
  const first = await app.inject({ method: 'POST', url: '/api/runs', payload: body })
  t.equal(first.statusCode, 202, first.body)
  const run = first.json()
  t.match(run, { id: /^[0-9a-f]{12}$/, suite: 'tiny', state: 'running', resultsName: /^tiny-.*\.json$/, events: `/api/runs/${run.id}/events` })

  const second = await app.inject({ method: 'POST', url: '/api/runs', payload: body })
  t.equal(second.statusCode, 409)
  t.match(second.json(), { statusCode: 409, error: 'Conflict', code: 'EPX_RUN_IN_PROGRESS', message: /a run is already in progress/ })
  t.match((await app.inject('/api/results')).json().running, { id: run.id })

  // the event stream ends after `done`; inject resolves then
  const res = await app.inject(run.events)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/event-stream/)
  const events = parseSse(res.body)
  const types = events.map((e) => e.event)
  t.equal(types[0], 'start')
  t.equal(types.at(-1), 'done')
  t.match(events[0]!.data, { runs: 1, scenarios: 1, eta: /\d+s/ })
  const progress = events.filter((e) => e.event === 'progress')
  t.ok(progress.length >= 2, 'progress events')
  t.match(progress[0]!.data, { phase: 'running', scenario: 'echo 64B c4 keep-alive @ event-loop', percent: 0, eta: /s$/ })
  t.match(progress.at(-1)!.data, { phase: 'finished', percent: 100, status: 'ok' })
  t.ok(progress.at(-1)!.data.requestsPerSec > 0)
  const done = events.at(-1)!.data
  t.match(done, { name: run.resultsName, url: `/runs/${run.resultsName}`, complete: true, ok: 1, failed: 0 })
  t.same(events.map((e) => Number(e.id)), events.map((_, i) => i + 1), 'event ids in order')

  // resuming with Last-Event-ID only sends what came after
  const resumed = parseSse((await app.inject({ url: run.events, headers: { 'last-event-id': String(events.length - 1) } })).body)
  t.same(resumed.map((e) => e.event), ['done'])

  t.ok(existsSync(join(dir, run.resultsName)), 'results written to the results folder')
  t.equal(readResults(join(dir, run.resultsName)).complete, true)
  const report = await app.inject(done.url)
  t.equal(report.statusCode, 200)
  t.match(report.body, /<svg[\s>]/)
  t.match((await app.inject(`/api/runs/${run.id}`)).json(), { state: 'done', percent: 100 })
  t.equal((await app.inject('/api/runs')).json().running, null, 'no longer busy')
  const noRun = await app.inject('/api/runs/0123456789ab/events')
  t.equal(noRun.statusCode, 404)
  t.match(noRun.json(), { statusCode: 404, error: 'Not Found', code: 'EPX_RUN_NOT_FOUND', message: 'no run 0123456789ab' })
  const badId = await app.inject('/api/runs/..%2F/events')
  t.equal(badId.statusCode, 400)
  t.match(badId.json().message, /^id: must be a run id/)
})

t.test('stopping the dashboard stops its run: no server outlives it, partial results are written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-dashboard-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { buildDashboard } = await import('../src/server.js')
  const { SUITES_DIR } = await import('./helpers/app.js')
  const app = await buildDashboard({ resultsDir: dir, suitesDir: SUITES_DIR, logLevel: 'silent' })
  const res = await app.inject({ method: 'POST', url: '/api/runs', payload: { suite: 'tiny', peers: false, durationMs: 20_000, warmupMs: 0 } })
  t.equal(res.statusCode, 202)
  const { resultsName } = res.json()
  let servers: number[] = []
  for (let i = 0; i < 100 && servers.length === 0; i++) {
    await sleep(100)
    servers = childrenOf(process.pid, /echoplex\.js serve/)
  }
  t.equal(servers.length, 1, 'the run started a server')
  await sleep(500)
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 10_000, 'closed promptly')
  const alive = servers.filter((pid) => { try { process.kill(pid, 0); return true } catch { return false } })
  t.same(alive, [], 'the server is gone')
  t.same(childrenOf(process.pid, /echoplex\.js serve/), [])
  const results = readResults(join(dir, resultsName))
  t.equal(results.complete, false)
  t.match(results.interrupted, /dashboard stopped/)
})

t.test('GET /api/ps and /ps: the live process tree, validated', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject({ url: '/api/ps', query: { pid: String(process.pid) } })
  t.equal(res.statusCode, 200, res.body)
  const tree = res.json()
  t.equal(tree.rootPid, process.pid)
  t.equal(tree.processes[0].pid, process.pid)
  t.ok(tree.totals.threads >= 1)
  t.match(tree.text, String(process.pid))

  // by port: whoever listens there
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  const byPort = await app.inject({ url: '/api/ps', query: { port: String(port) } })
  t.equal(byPort.statusCode, 200)
  t.equal(byPort.json().rootPid, process.pid)
  t.match(byPort.json().processes[0].listening, [`127.0.0.1:${port}`])

  // a form sent with one box blank: the blank field is not given
  const blankPid = await app.inject({ url: `/ps?port=${port}&pid=` })
  t.equal(blankPid.statusCode, 200, blankPid.body)
  t.match(blankPid.body, /<table id="tree">/)
  const blankPort = await app.inject({ url: `/api/ps?port=&pid=${process.pid}` })
  t.equal(blankPort.statusCode, 200)
  t.equal(blankPort.json().rootPid, process.pid)
  t.equal((await app.inject('/api/ps?port=&pid=')).statusCode, 400, 'both blank: neither given')
  // stats are asked of echoplex servers only (SIGUSR2 would kill another process)
  const withStats = await app.inject({ url: '/api/ps', query: { pid: String(process.pid), stats: 'true' } })
  t.equal(withStats.statusCode, 200)
  t.equal(withStats.json().stats, null)
  t.match(withStats.json().statsNote, /not an echoplex server/)

  t.test('a root shown as primary only because echoplex processes run under it is never signalled', async (t) => {
    // this test process with a server under it: the tree infers it is a primary (a parent shell, a
    // test runner and the dashboard itself look the same), but SIGUSR2 would kill it
    const server = await startServer(t, ['--model', 'event-loop', '--handler', 'echo'])
    const shown = await app.inject({ url: '/api/ps', query: { pid: String(process.pid) } })
    t.equal(shown.json().processes[0].role, 'primary', 'the tree calls the root a primary')
    t.ok(shown.json().processes.some((p: { pid: number }) => p.pid === server.pid), 'with the server under it')
    let usr2 = 0
    const count = (): void => { usr2++ }
    process.on('SIGUSR2', count) // were one sent, it would be counted instead of ending this test
    t.teardown(() => { process.off('SIGUSR2', count) })
    const asked = await app.inject({ url: '/api/ps', query: { pid: String(process.pid), stats: 'true' } })
    t.equal(asked.json().stats, null)
    t.match(asked.json().statsNote, /not an echoplex server/)
    const served = await app.inject({ url: '/api/ps', query: { pid: String(server.pid), stats: 'true' } })
    t.notMatch(served.json().statsNote ?? '', /not an echoplex server/, 'the server itself is asked')
    await sleep(200)
    t.equal(usr2, 0, 'no SIGUSR2 reached the inferred root')
  })

  const page = await app.inject({ url: '/ps', query: { port: String(port) } })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<table id="tree">/)
  t.match(page.body, /setTimeout\(refresh, 1000\)/, 'refreshes every second')
  t.match((await app.inject('/ps')).body, /id="ps-form"/, 'a form without a query')

  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ['/api/ps', {}, 400, /^querystring: give exactly one of pid or port/],
    ['/api/ps', { pid: '1', port: '2' }, 400, /^querystring: give exactly one of pid or port/],
    ['/api/ps', { port: 'abc' }, 400, /^port: must be a TCP port/],
    ['/api/ps', { port: '70000' }, 400, /^port: must be a TCP port/],
    ['/api/ps', { pid: '-1' }, 400, /^pid: must be a process id/],
    ['/api/ps', { pid: '1', cmd: 'x' }, 400, /^querystring: unknown field "cmd"/],
    ['/api/ps', { pid: '4194303' }, 404, /no process 4194303/],
  ]
  for (const [url, query, code, message] of cases) {
    const r = await app.inject({ url, query })
    t.equal(r.statusCode, code, `${url} ${JSON.stringify(query)}`)
    t.match(r.json().message, message, `${url} ${JSON.stringify(query)}`)
    if (code === 404) t.equal(r.json().code, 'EPX_NO_SERVER')
  }
  server.close()
  await sleep(50)
  const gone = await app.inject({ url: '/api/ps', query: { port: String(port) } })
  t.equal(gone.statusCode, 404)
  t.match(gone.json().message, new RegExp(`no server of yours listens on port ${port}`))
  const badPage = await app.inject({ url: '/ps', query: { port: 'x' } })
  t.equal(badPage.statusCode, 400)
  t.match(badPage.headers['content-type'], /^text\/html/)
})

t.test('GET /runs/new: the page that starts a run', async (t) => {
  const { app } = await dashboard(t)
  const res = await app.inject('/runs/new')
  t.equal(res.statusCode, 200)
  t.match(res.body, /<option value="tiny" selected/)
  t.match(res.body, /new EventSource\('\/api\/runs\/' \+ id \+ '\/events'\)/)
  t.equal((await app.inject('/runs/new?id=0123456789ab')).statusCode, 404)
  t.equal((await app.inject('/runs/new?id=nope')).statusCode, 400)
})

t.test('listening on loopback, only requests addressed to a loopback name are answered (DNS rebinding)', async (t) => {
  const { app } = await dashboard(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const get = (host: string): Promise<{ status: number, body: string }> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/results', headers: { host } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject).end()
  })
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost']) {
    t.equal((await get(host)).status, 200, host)
  }
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`]) {
    const res = await get(host)
    t.equal(res.status, 403, `Host ${host}`)
    t.notMatch(res.body, FIXTURE_NAME)
  }
})
