import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ECHOPLEX_BIN, REPO_ROOT } from '../../server/test/helpers/server.js'

type Test = typeof t

const dir = mkdtempSync(join(tmpdir(), 'echoplex-bin-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

// module hooks that write down every module the CLI loads (node --import registers them first)
const hooks = join(dir, 'hooks.mjs')
writeFileSync(hooks, `import { appendFileSync } from 'node:fs'
let log
export function initialize (data) { log = data.log }
export async function load (url, context, next) { appendFileSync(log, url + '\\n'); return await next(url, context) }
`)

/** The module URLs `echoplex ARGS` loads (from the CLI's own start to its exit). */
function modulesLoadedBy (t: Test, args: string[]): string[] {
  const log = join(dir, `${args.join('_').replace(/[^a-z-]/g, '')}.log`)
  writeFileSync(log, '')
  const register = join(dir, `register-${args.length}-${Math.random().toString(36).slice(2)}.mjs`)
  writeFileSync(register, `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { log: ${JSON.stringify(log)} } })\n`)
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, ECHOPLEX_BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 })
  t.equal(r.status, 0, `echoplex ${args.join(' ')} exits 0 (${r.stderr.trim()})`)
  return readFileSync(log, 'utf8').split('\n').filter((line) => line !== '')
}

const from = (urls: string[], part: string): string[] => urls.filter((url) => url.includes(part))

t.test('serve loads its own command, not bench, report, the dashboard or autocannon', async (t) => {
  const urls = modulesLoadedBy(t, ['serve', '--help'])
  t.ok(from(urls, '/cli/dist/commands/serve.js').length === 1, 'the serve command')
  t.ok(from(urls, '/server/dist/').length > 0, 'the server package')
  for (const part of ['/cli/dist/commands/bench.js', '/bench/dist/', '/report/dist/', '/dashboard/dist/', '/node_modules/autocannon/', '/node_modules/fastify/']) {
    t.same(from(urls, part), [], `nothing from ${part}`)
  }
})

t.test('bench loads autocannon only to run an HTTP load, and the report only for --report', async (t) => {
  const urls = modulesLoadedBy(t, ['bench', '--help'])
  t.ok(from(urls, '/bench/dist/').length > 0, 'the bench package')
  for (const part of ['/node_modules/autocannon/', '/report/dist/', '/dashboard/dist/', '/commands/serve.js']) t.same(from(urls, part), [], `nothing from ${part}`)
})

t.test('help, and a command to suggest for, still know every command', async (t) => {
  const urls = modulesLoadedBy(t, ['--help'])
  for (const command of ['serve', 'bench', 'ps', 'report', 'compare', 'dashboard', 'boot-cost', 'new']) {
    t.ok(from(urls, `/cli/dist/commands/${command}.js`).length === 1, `${command} loaded for help`)
  }
  const typo = spawnSync(process.execPath, [ECHOPLEX_BIN, 'serv'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 })
  t.equal(typo.status, 2)
  t.equal(typo.stderr, "echoplex: unknown command 'serv' (Did you mean serve?)\n")
})
