/**
 * `serve --proxy-protocol` end to end, real sockets, every model: the handler sees the client a PROXY
 * v1/v2 header names; a connection without a valid header, or from an address that is not an allowed
 * proxy, is closed before any handler hook runs.
 */
import t from 'tap'
import { BUILTIN_MODELS, findModel } from '@echoplex/server'
import { Client, lengthFrame } from './helpers/client.js'
import { fixture, startServer } from './helpers/server.js'
import { v1, v2 } from '../../core/test/proxy/fixtures/encode.js'

const RAW_FRAMINGS = ['line', 'length', 'raw']

/**
 * Every registered model (fork-reuse too): HTTP plus one of the TCP framings, taken in turn so each
 * framing meets several models; the first model gets all four.
 */
const MATRIX: Array<[model: string, framings: string[]]> = BUILTIN_MODELS.map((d, i) =>
  [d.name, i === 0 ? [...RAW_FRAMINGS, 'http'] : [RAW_FRAMINGS[(i - 1) % RAW_FRAMINGS.length]!, 'http']])

/** The model and the flags its registry entry asks the suites for (kept small for a 2-core box). */
function modelArgs (model: string): string[] {
  return ['--model', model, ...findModel(model)!.suites.conformanceArgs]
}

/** One message in the framing, carrying `text`. */
function message (framing: string, text: string): Buffer {
  if (framing === 'line') return Buffer.from(`${text}\n`)
  if (framing === 'length') return lengthFrame(text)
  if (framing === 'http') return Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${text.length}\r\n\r\n${text}`)
  return Buffer.from(text)
}

for (const [model, framings] of MATRIX) {
  for (const framing of framings) {
    t.test(`${model} / ${framing}`, async (t) => {
      const server = await startServer(t, [...modelArgs(model), '--handler', fixture('peer-whoami.mjs'), '--option', `framing=${framing}`,
        '--proxy-protocol', '--proxy-allow-from', '127.0.0.1/32'])
      const open = async (opts?: { localAddress?: string }): Promise<Client> => {
        const c = await Client.open(server.port, '127.0.0.1', opts)
        t.teardown(() => c.destroy())
        return c
      }
      const reply = async (c: Client, expected: string): Promise<void> => {
        await c.until(() => c.data().includes(expected) || c.closed, 10_000, expected)
        t.ok(c.data().includes(expected), `reply names ${expected}`)
      }

      const a = await open()
      a.write(Buffer.concat([v1('TCP4', '203.0.113.7', '198.51.100.1', 40001, 80), message(framing, 'hello')]))
      await reply(a, '203.0.113.7 40001 hello')

      // a v2 header trickling in a byte at a time, the first message in the same write as its last byte
      const b = await open()
      const header = v2({ command: 1, family: 2, src: '2001:db8::7', dst: '2001:db8::1', sport: 40002, dport: 443 })
      for (const byte of header.subarray(0, -1)) { b.write(Buffer.from([byte])); await new Promise((resolve) => setImmediate(resolve)) }
      b.write(Buffer.concat([header.subarray(-1), message(framing, 'hi')]))
      await reply(b, '2001:db8::7 40002 hi')

      // LOCAL (what a balancer's health check sends): the socket's own peer stands
      const c = await open()
      c.write(Buffer.concat([v2({ command: 0, family: 0 }), message(framing, 'local')]))
      await reply(c, `127.0.0.1 ${c.socket.localPort} local`)

      // an allowed proxy that sends no header: closed, nothing answered
      const d = await open()
      d.write(message(framing, 'no header'))
      await d.waitClose()
      t.equal(d.received, 0, 'no reply without a header')

      // a peer that is not an allowed proxy, even with a valid header: refused
      const e = await open({ localAddress: '127.0.0.2' })
      e.write(Buffer.concat([v1('TCP4', '203.0.113.9', '198.51.100.1', 40009, 80), message(framing, 'sneaky')]))
      await e.waitClose()
      t.equal(e.received, 0, 'no reply to a peer outside --proxy-allow-from')

      // only the four connections with a valid header from an allowed proxy ever reached onConnect
      const f = await open()
      f.write(Buffer.concat([v1('TCP4', '203.0.113.8', '198.51.100.1', 40008, 80), message(framing, 'connects')]))
      await f.until(() => /\b4\b/.test(f.data().toString()) || f.closed, 10_000, 'connects')
      t.match(f.data().toString(), /(^|\n|\r\n\r\n)4(\n|$)|\x00\x00\x00\x014/, 'onConnect ran for the 4 admitted connections only')
    })
  }
}

t.test('serve: --proxy-allow-from without --proxy-protocol, or a bad block, is a one-line usage error', async (t) => {
  const { runCli } = await import('./helpers/server.js')
  const alone = await runCli(['serve', '--port', '0', '--proxy-allow-from', '10.0.0.0/8'])
  t.equal(alone.code, 2)
  t.match(alone.stderr, /--proxy-allow-from: needs --proxy-protocol/)
  const bad = await runCli(['serve', '--port', '0', '--proxy-protocol', '--proxy-allow-from', '10.0.0.0/40'])
  t.equal(bad.code, 2)
  t.equal(bad.stderr.trim().split('\n').length, 1)
  t.match(bad.stderr, /prefix length must be 0-32/)
})
