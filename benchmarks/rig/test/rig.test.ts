/**
 * Faults across hosts, on the rig (root only; `pnpm run test:rig`): three echoplex hosts behind
 * HAProxy, each in its own network namespace.
 * - cutting one host's link mid-run loses only that host's connections; every new connection is
 *   served by the other hosts once HAProxy's checks mark it down (and most before); every byte sent
 *   over the surviving hosts comes back; the host rejoins once its link is back;
 * - SIGTERM of one host under HTTP load gives 0 failed requests, and the host restarted rejoins.
 */
import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
// @ts-expect-error: the rig is plain ESM (runnable without a build), without type declarations
import { Rig, cannotRun, teardownOnExit } from '../lib/rig.mjs'
// @ts-expect-error: as above
import { CHECK_FALL, CHECK_INTER_MS, CONNECT_TIMEOUT_MS } from '../lib/haproxy.mjs'

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

interface Conn { i: number, openedAt: number, host: string | null, client: string | null, whoMs: number | null, sent: number, received: number, mismatch: boolean, error: string | null, closedEarly: boolean, pending: boolean }

async function driver (rig: any, connections: number, durationMs: number, staggerMs = 0): Promise<Conn[]> {
  const p = rig.loadgen([fixture('driver.mjs'), '--target', rig.balancer.address, '--connections', String(connections), '--duration', String(durationMs), '--stagger', String(staggerMs)])
  const status = await p.exited
  if (status !== 0) throw new Error(`driver exited ${status}: ${p.err}`)
  return JSON.parse(p.out).connections as Conn[]
}

async function startRig (t: any, config: Record<string, unknown>): Promise<any> {
  const rig = new Rig({ hosts: 3, model: 'event-loop', ...config })
  const unhook = teardownOnExit(rig)
  t.teardown(async () => { await rig.down(); unhook() })
  await rig.up((line: string) => t.comment(line))
  return rig
}

const why = cannotRun()
if (why !== null) {
  t.fail(why)
} else {
  t.test('cutting one host\'s link: only its connections are lost, the others take every new one, and it rejoins', async (t) => {
    const rig = await startRig(t, { handler: fixture('whoami-echo.mjs') })
    const lg = rig.network.loadgen.ip
    const running = driver(rig, 30, 5000)
    await sleep(1500)
    const cut = rig.host('h2')
    rig.network.setLink(cut.endpoint, false)
    const cutAt = Date.now()
    // new connections arriving from the moment of the cut, one every 50 ms for 3 s
    const fresh = driver(rig, 60, 0, 50)
    const downMs = await rig.balancer.waitFor('h2', 'DOWN', 10_000)
    const downSeenAt = Date.now()
    const [old, after] = await Promise.all([running, fresh])

    t.ok(old.every((c) => c.host !== null), 'every connection was served before the cut')
    t.ok(old.every((c) => c.client === lg), `handlers saw the load generator (${lg}) as the client, through HAProxy's PROXY v2 header`)
    const on = (host: string): Conn[] => old.filter((c) => c.host === host)
    for (const h of ['h1', 'h2', 'h3']) t.ok(on(h).length >= 5, `${h} had ${on(h).length} of the 30 connections`)
    const survivors = old.filter((c) => c.host !== 'h2')
    const bad = survivors.filter((c) => c.closedEarly || c.mismatch || c.error !== null || c.pending || c.received !== c.sent)
    t.same(bad, [], 'on h1 and h3, every connection stayed up and every byte came back')
    t.ok(survivors.every((c) => c.sent > 0), 'and they were busy until the end')
    const lost = on('h2').filter((c) => c.pending || c.closedEarly)
    t.equal(lost.length, on('h2').length, 'the connections on h2 are the ones lost')
    const lostBytes = on('h2').reduce((n, c) => n + c.sent - c.received, 0)
    const survivorBytes = survivors.reduce((n, c) => n + c.received, 0)
    t.comment(`loss: ${lost.length}/${old.length} connections (all on h2), ${lostBytes} bytes unanswered; ${survivors.length} connections on h1/h3 echoed ${survivorBytes}/${survivors.reduce((n, c) => n + c.sent, 0)} bytes`)

    // worst case: up to one interval until the next check, then each of the `fall` failing checks
    // times out after `inter` (HAProxy's check timeout defaults to it) with an interval between them
    const bound = CHECK_INTER_MS * 2 * CHECK_FALL + 500
    t.ok(downMs <= bound, `HAProxy marked h2 down ${downMs} ms after the cut (checks every ${CHECK_INTER_MS} ms, fall ${CHECK_FALL}: ≤ ${bound})`)
    t.ok(after.every((c) => c.host !== 'h2'), 'no new connection was served by h2')
    const sinceDown = after.filter((c) => c.openedAt >= downSeenAt)
    t.ok(sinceDown.length >= 10, `${sinceDown.length} new connections opened once h2 was down`)
    t.ok(sinceDown.every((c) => c.host === 'h1' || c.host === 'h3'), 'every one of them was served by h1 or h3')
    // before that, HAProxy may send one to h2: its connect times out and it is retried on another
    // host, unless h2 is marked down (closing its sessions) while that connect is still pending
    const window = after.filter((c) => c.openedAt < downSeenAt)
    const windowLost = window.filter((c) => c.host === null)
    t.ok(windowLost.every((c) => c.openedAt >= downSeenAt - CONNECT_TIMEOUT_MS - 300), 'a new connection lost in the detection window was still connecting to h2 when it was marked down')
    const served = after.filter((c) => c.host !== null && c.whoMs !== null)
    t.ok(served.length > 0, `${served.length} of ${after.length} new connections were served`)
    const slowest = Math.max(...served.map((c) => c.whoMs!))
    t.ok(slowest <= CONNECT_TIMEOUT_MS + 1000, `the slowest new connection served was answered ${slowest} ms after it was opened (a connect to h2 times out in ${CONNECT_TIMEOUT_MS} ms, then HAProxy redispatches)`)
    t.comment(`h2 down ${downMs} ms after the cut; new connections: ${window.length - windowLost.length}/${window.length} opened during detection served (by h1/h3), ${windowLost.length} lost; ${sinceDown.length}/${sinceDown.length} opened after served by h1/h3; slowest answered in ${slowest} ms; cut→first arrival ${after[0]!.openedAt - cutAt} ms`)

    rig.network.setLink(cut.endpoint, true)
    const upMs = await rig.balancer.waitFor('h2', 'UP', 10_000)
    const back = await driver(rig, 30, 0)
    t.ok(back.some((c) => c.host === 'h2'), `h2 rejoined ${upMs} ms after its link came back and serves new connections (${back.filter((c) => c.host === 'h2').length}/30)`)
  })

  t.test('SIGTERM of one host under HTTP load: 0 failed requests; restarted, it rejoins', async (t) => {
    const rig = await startRig(t, { handler: 'http' })
    const out = mkdtempSync(join(tmpdir(), 'epxrig-results-'))
    t.teardown(() => rmSync(out, { recursive: true, force: true }))
    const bench = rig.bench(['-w', 'http', '-d', '4s', '--warmup', '300ms', '-c', '24', '--modes', 'keep-alive', '--quiet', '--out', out])
    // well inside the measured window: h1 has been serving for a while
    const t0 = Date.now()
    while (((await rig.balancer.stats()).h1?.current ?? 0) === 0) {
      if (Date.now() - t0 > 15_000) throw new Error('the load never reached h1')
      await sleep(50)
    }
    await sleep(1500)
    const h1 = rig.host('h1')
    const exit = await h1.stop()
    t.equal(exit, 0, 'h1 drained and exited 0 after SIGTERM')
    const benchExit = await bench.exited
    t.equal(benchExit, 0, benchExit === 0 ? 'bench exit 0' : `bench exit ${benchExit}: ${bench.err.trim().split('\n').pop()}`)
    const results = JSON.parse(readFileSync(join(out, readdirSync(out)[0]!), 'utf8'))
    const rep = results.scenarios[0].repetitions[0]
    t.equal(results.scenarios[0].status, 'ok', 'the scenario is ok')
    t.equal(rep.load.errors.total, 0, 'no request failed')
    t.equal(rep.load.errors.non2xx, 0, 'no non-2xx response')
    t.equal(rep.load.mismatches, 0, 'every body echoed')
    const seen = await rig.balancer.stats()
    t.comment(`h1 had served ${seen.h1.sessions} balancer sessions before it stopped`)
    t.comment(`HTTP through HAProxy, h1 SIGTERMed mid-run: ${rep.load.requests.completed} requests, ${rep.load.throughput.requestsPerSec} req/s, ${rep.load.errors.total} failed`)

    await h1.start()
    const upMs = await rig.balancer.waitFor('h1', 'UP', 10_000)
    const again = rig.bench(['-w', 'http', '-d', '1s', '--warmup', '100ms', '-c', '12', '--modes', 'keep-alive', '--quiet', '--out', out])
    t.equal(await again.exited, 0, 'a second load through the balancer passes')
    const stats = await h1.stats()
    t.ok(stats.connectionsTotal > 0 && stats.messages > 0, `restarted h1 rejoined (UP ${upMs} ms after start) and served ${stats.connectionsTotal} connections, ${stats.messages} requests`)
  })
}
