import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ECHOPLEX_BIN, REPO_ROOT, serverEnv } from '../../server/test/helpers/server.js'
import { outsideDir } from '../../server/test/handler-loading/outside.js'

interface Ran { code: number | null, stdout: string, stderr: string }

async function run (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // the whole group: tap's test process and the server it starts
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, timeoutMs)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

const echoplex = async (args: string[], cwd: string): Promise<Ran> => await run(process.execPath, [ECHOPLEX_BIN, ...args], cwd, serverEnv(), 20_000)

/**
 * Runs a generated test the way its user would: tap installed next to it (a link to ours) and an
 * `echoplex` command on PATH (a shim for this checkout, on the Node running this test).
 */
async function runGeneratedTest (dir: string, testFile: string): Promise<Ran> {
  if (!existsSync(join(dir, 'node_modules'))) {
    mkdirSync(join(dir, 'node_modules'))
    symlinkSync(join(REPO_ROOT, 'node_modules', 'tap'), join(dir, 'node_modules', 'tap'))
    mkdirSync(join(dir, 'bin'))
    writeFileSync(join(dir, 'bin', 'echoplex'), `#!/bin/sh\nexec "${process.execPath}" "${ECHOPLEX_BIN}" "$@"\n`)
    chmodSync(join(dir, 'bin', 'echoplex'), 0o755)
  }
  const env = serverEnv({ PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` })
  return await run(join(REPO_ROOT, 'node_modules', '.bin', 'tap'), ['--disable-coverage', testFile], dir, env, 120_000)
}

t.test('new handler NAME writes a TypeScript handler whose test passes', async (t) => {
  const dir = outsideDir(t)
  const made = await echoplex(['new', 'handler', 'greet'], dir)
  t.equal(made.code, 0, made.stderr)
  t.match(made.stdout, /wrote greet\.ts, greet\.test\.ts, package\.json/)
  t.match(readFileSync(join(dir, 'greet.ts'), 'utf8'), /import \{ defineHandler \} from '@echoplex\/core'/)
  t.equal(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type, 'module')
  const tested = await runGeneratedTest(dir, 'greet.test.ts')
  t.equal(tested.code, 0, 'the generated test passes', { stdout: tested.stdout, stderr: tested.stderr })
  t.match(tested.stdout, /# \{ total: 1, pass: 1 \}/)
})

t.test('new handler NAME --js writes .mjs files; its test passes, and fails when the handler breaks', async (t) => {
  const dir = outsideDir(t)
  const made = await echoplex(['new', 'handler', 'shout', '--js'], dir)
  t.equal(made.code, 0, made.stderr)
  t.ok(existsSync(join(dir, 'shout.mjs')) && existsSync(join(dir, 'shout.test.mjs')))
  t.notOk(existsSync(join(dir, 'shout.ts')))
  const tested = await runGeneratedTest(dir, 'shout.test.mjs')
  t.equal(tested.code, 0, 'the generated test passes', { stdout: tested.stdout, stderr: tested.stderr })

  const handler = join(dir, 'shout.mjs')
  writeFileSync(handler, readFileSync(handler, 'utf8').replace('.toUpperCase()', ''))
  const broken = await runGeneratedTest(dir, 'shout.test.mjs')
  t.not(broken.code, 0, 'the generated test catches a handler that no longer upper-cases')
})

t.test('new handler refuses to overwrite and to take a bad name, in one line', async (t) => {
  const dir = outsideDir(t)
  writeFileSync(join(dir, 'package.json'), '{"name":"mine"}\n')
  writeFileSync(join(dir, 'greet.test.ts'), 'mine\n')
  const taken = await echoplex(['new', 'handler', 'greet'], dir)
  t.equal(taken.code, 2)
  t.equal(taken.stderr, 'echoplex: greet.test.ts already exists; not overwriting it\n')
  t.notOk(existsSync(join(dir, 'greet.ts')), 'nothing written when one file is taken')
  t.equal(readFileSync(join(dir, 'greet.test.ts'), 'utf8'), 'mine\n')

  const again = await echoplex(['new', 'handler', 'other'], dir)
  t.equal(again.code, 0)
  t.equal(readFileSync(join(dir, 'package.json'), 'utf8'), '{"name":"mine"}\n', 'an existing package.json is left alone')
  t.match(again.stderr, /note: package\.json here lacks "type": "module"/)

  for (const name of ['../escape', 'has space', '1st']) {
    const bad = await echoplex(['new', 'handler', name], dir)
    t.equal(bad.code, 2, name)
    t.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr)
    t.match(bad.stderr, /invalid handler name/)
  }
  for (const args of [['new'], ['new', 'widget']]) {
    const kind = await echoplex(args, dir)
    t.equal(kind.code, 2, args.join(' '))
    t.match(kind.stderr, /^echoplex: invalid echoplex new: (no kind given|unknown kind "widget") \(expected: handler, as in echoplex new handler NAME\)\n$/)
  }
  const missing = await echoplex(['new', 'handler'], dir)
  t.equal(missing.code, 2)
  t.equal(missing.stderr, "echoplex: missing required argument 'name'\n")
})
