import t from 'tap'
import { fixture, runCli, startServer } from '../../server/test/helpers/server.js'
import { ask, eventually } from '../../server/test/handler-loading/outside.js'

const isJson = (line: string): boolean => {
  try { JSON.parse(line); return true } catch { return false }
}

for (const model of ['event-loop', 'fork'] as const) {
  t.test(`--log-format pretty prints human lines (${model})`, async (t) => {
    const server = await startServer(t, ['--model', model, '--handler', fixture('faulty.mjs'), '--log-format', 'pretty'])
    t.equal(await ask(server.port, 'boom'), '')
    const stderr = await eventually(server.stderr, /handler failed; closing its connection[\s\S]*faulty\.mjs:\d+/)
    const lines = stderr.split('\n').filter((line) => line.trim() !== '')
    t.notOk(lines.some(isJson), 'no JSON line')
    t.match(stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR \(\d+\): handler failed; closing its connection$/m, 'time, level, pid, message')
    t.match(stderr, /err: "boom requested"/)
    t.match(stderr, /^\s+stack: Error: boom requested$/m)
    t.match(stderr, /^\s+at Object\.onMessage \(file:\/\/\S+faulty\.mjs:7:\d+\)$/m, 'the stack, one frame a line')
  })
}

t.test('--log-format json (the default) prints one JSON object a line, with the stack', async (t) => {
  const server = await startServer(t, ['--model', 'event-loop', '--handler', fixture('faulty.mjs')])
  t.equal(await ask(server.port, 'boom'), '')
  const stderr = await eventually(server.stderr, /handler failed/)
  const entry = JSON.parse(stderr.split('\n').find((line) => line.includes('handler failed'))!) as Record<string, unknown>
  t.match(entry, { level: 50, err: 'boom requested', msg: 'handler failed; closing its connection' })
  t.match(entry.stack, /^Error: boom requested\n\s+at Object\.onMessage \(file:\/\/\S+faulty\.mjs:7:\d+\)/)
})

t.test('--log-format refuses other formats in one line', async (t) => {
  const { code, stderr } = await runCli(['serve', '--log-format', 'xml'])
  t.equal(code, 2)
  t.match(stderr, /^echoplex: option '--log-format <format>' argument 'xml' is invalid\. Allowed choices are json, pretty\.\n$/)
})
