/**
 * The conformance suite: one set of end-to-end checks, real sockets and real processes, run against
 * every concurrency model. A model joins by adding a `<model>.test.ts` that calls `conformance(name)`;
 * what it needs beyond the defaults comes from its registry entry (`suites.conformanceArgs`).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import autocannon from 'autocannon'
import { Client, lengthFrame, writeNumberedLines } from '../helpers/client.js'
import { findModel, type SuiteVariant } from '@echoplex/server'
import { fixture, startServer } from '../helpers/server.js'

type Test = typeof t

/** The model and the flags its descriptor asks for (kept small for a 2-core CI box), and a variant's. */
function modelArgs (model: string, variant?: SuiteVariant): string[] {
  const descriptor = findModel(model)
  if (descriptor === undefined) throw new Error(`no registered model ${model}`)
  return ['--model', model, ...descriptor.suites.conformanceArgs, ...variant?.args ?? []]
}

function variantOf (model: string, name: string): SuiteVariant {
  const variant = findModel(model)?.suites.variants?.find((v) => v.name === name)
  if (variant === undefined) throw new Error(`model ${model} has no suite variant ${name}`)
  return variant
}

/**
 * Runs the suite against a model, or one of its registry variants (`conformance('cluster',
 * 'reuseport')`). A variant this Node cannot serve is checked to be refused in one line instead.
 */
export async function conformance (model: string, variantName?: string): Promise<void> {
  const variant = variantName === undefined ? undefined : variantOf(model, variantName)
  const name = `${findModel(model)?.name ?? model}${variant === undefined ? '' : ` (${variant.name})`}`
  const serve = async (tt: Test, handler: string, extra: string[] = []): ReturnType<typeof startServer> =>
    await startServer(tt, [...modelArgs(model, variant), '--handler', handler, ...extra])
  const why = await variant?.unavailable?.()
  if (why !== undefined) {
    t.test(`${name}: this Node cannot serve it (${why}); it is refused in one line`, async (t) => {
      await t.rejects(serve(t, 'echo'), /before listening: echoplex: [^\n]*not available/)
    })
    return
  }

  t.test(`${name}: echo`, async (t) => {
    const server = await serve(t, 'echo')

    await t.test('50 concurrent clients × 200 messages, every reply exact and in order', async (t) => {
      const clients = await Promise.all(Array.from({ length: 50 }, async () => await Client.open(server.port)))
      t.teardown(() => clients.forEach((c) => c.destroy()))
      const expected = clients.map((c, i) => {
        const parts: Buffer[] = []
        for (let j = 0; j < 200; j++) {
          const msg = Buffer.from(`client ${i} message ${j} ${'x'.repeat(j % 37)}\n`)
          parts.push(msg)
          c.write(msg)
        }
        return Buffer.concat(parts)
      })
      await Promise.all(clients.map(async (c, i) => await c.waitBytes(expected[i]!.length, 60_000)))
      const wrong = clients.filter((c, i) => !c.data().equals(expected[i]!)).length
      t.equal(wrong, 0, 'every client got exactly its own bytes, in order')
    })

    await t.test('a 4 MiB payload is echoed byte-exact', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      const payload = randomBytes(4 * 1024 * 1024)
      c.write(payload)
      const got = await c.waitBytes(payload.length, 30_000)
      t.equal(got.length, payload.length)
      t.ok(got.equals(payload), 'bytes identical')
    })

    await t.test('half-close: replies still arrive after the client shuts its write side', async (t) => {
      const c = await Client.open(server.port, undefined, { allowHalfOpen: true })
      t.teardown(() => c.destroy())
      c.socket.end('last words')
      await c.waitClose()
      t.equal(c.data().toString(), 'last words')
    })
  })

  t.test(`${name}: length framing`, async (t) => {
    const server = await serve(t, fixture('length-echo.mjs'))

    await t.test('frames split at awkward boundaries come back whole, in order', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      const payloads = Array.from({ length: 300 }, (_, i) => randomBytes(i * 7))
      const stream = Buffer.concat(payloads.map(lengthFrame))
      // deliberately awkward splits: 1 byte, then odd sizes
      let offset = 0
      for (let size = 1; offset < stream.length; size = (size * 7 + 3) % 997 + 1) {
        c.write(stream.subarray(offset, offset + size))
        offset += size
      }
      const got = await c.waitBytes(stream.length, 20_000)
      t.ok(got.equals(stream), 'every frame came back framed, in order')
    })

    await t.test('100 clients that send half a frame and reset; others keep being served', async (t) => {
      const steady = await Client.open(server.port)
      t.teardown(() => steady.destroy())
      const sent: Buffer[] = []
      await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const c = await Client.open(server.port)
        const frame = lengthFrame(randomBytes(100))
        c.write(frame.subarray(0, 4 + 40)) // header claims 100 bytes; 40 arrive
        const msg = lengthFrame(`steady ${i}`)
        sent.push(msg)
        steady.write(msg)
        await new Promise((resolve) => setImmediate(resolve))
        c.socket.resetAndDestroy()
      }))
      const expected = Buffer.concat(sent)
      await steady.waitBytes(expected.length)
      t.ok(steady.data().equals(expected), 'steady client got all its frames in order')
      const fresh = await Client.open(server.port)
      t.teardown(() => fresh.destroy())
      fresh.write(lengthFrame('still here'))
      // fork hands every reset connection to a child before it can know it was reset: allow those boots
      t.ok((await fresh.waitBytes(14, 60_000)).equals(lengthFrame('still here')), 'a new client is served')
    })
  })

  t.test(`${name}: upper`, async (t) => {
    const server = await serve(t, 'upper')
    await t.test('the seeds\' client: hello with no newline gets HELLO', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      c.write('hello')
      t.equal((await c.waitBytes(5)).toString(), 'HELLO')
    })
    await t.test('a character split across writes is upper-cased whole', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      const bytes = Buffer.from('straße ö')
      c.write(bytes.subarray(0, bytes.length - 1))
      await new Promise((resolve) => setTimeout(resolve, 50))
      c.write(bytes.subarray(bytes.length - 1))
      const want = Buffer.from('STRASSE Ö')
      t.equal((await c.waitBytes(want.length)).toString(), 'STRASSE Ö')
    })
  })

  t.test(`${name}: http`, async (t) => {
    const server = await serve(t, 'http')
    const base = `http://127.0.0.1:${server.port}`

    await t.test('fetch: POST body echoed, empty body gives empty reply', async (t) => {
      const body = randomBytes(10_000)
      const res = await fetch(`${base}/echo`, { method: 'POST', body })
      t.equal(res.status, 200)
      t.ok(Buffer.from(await res.arrayBuffer()).equals(body))
      const empty = await fetch(`${base}/`)
      t.equal(empty.status, 200)
      t.equal((await empty.arrayBuffer()).byteLength, 0)
    })

    await t.test('malformed request gets 400 and the connection closes', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      c.write('THIS IS NOT HTTP\r\n\r\n')
      await c.waitClose()
      t.match(c.data().toString(), /^HTTP\/1\.1 400 /)
    })

    await t.test('RFC 9112 refusals: CONNECT → 501, HTTP/1.1 without Host → 400; each closes the connection', async (t) => {
      const cases: Array<[string, RegExp]> = [
        ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /^HTTP\/1\.1 501 [^]*\r\nConnection: close\r\n[^]*EPX_HTTP_UNSUPPORTED/],
        ['GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 [^]*\r\nConnection: close\r\n[^]*EPX_HTTP_BAD_REQUEST/],
      ]
      for (const [request, reply] of cases) {
        const c = await Client.open(server.port)
        t.teardown(() => c.destroy())
        // a request the server would answer follows: it must not be (the connection is done)
        c.write(request + 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n')
        await c.waitClose()
        const text = c.data().toString('latin1')
        t.match(text, reply, JSON.stringify(request))
        t.equal(text.match(/^HTTP\/1\.1 \d{3} /gm)?.length, 1, 'one response, then closed')
      }
    })

    await t.test('pipelined requests are answered in order', async (t) => {
      const c = await Client.open(server.port)
      t.teardown(() => c.destroy())
      const bodies = ['first', 'second', 'third']
      c.write(bodies.map((b) => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${b.length}\r\n\r\n${b}`).join(''))
      await c.until(() => (c.data().toString().match(/HTTP\/1\.1 200/g) ?? []).length === 3 && c.data().toString().endsWith('third'))
      const text = c.data().toString()
      t.ok(text.indexOf('first') < text.indexOf('second') && text.indexOf('second') < text.indexOf('third'), 'in order')
    })

    await t.test('autocannon with body verification: 0 mismatches, 0 errors', async (t) => {
      const body = 'echoplex-' + 'a'.repeat(100)
      const result = await autocannon({
        url: `${base}/`,
        method: 'POST',
        body,
        expectBody: body,
        connections: 10,
        pipelining: 2,
        duration: 1.5,
      })
      t.ok(result.requests.total > 100, `requests: ${result.requests.total}`)
      t.equal(result.mismatches, 0, 'mismatches')
      t.equal(result.errors, 0, 'errors')
      t.equal(result.non2xx, 0, 'non-2xx')
    })
  })

  t.test(`${name}: a handler that throws or rejects affects only its connection`, async (t) => {
    const server = await serve(t, fixture('faulty.mjs'))
    const good = await Client.open(server.port)
    t.teardown(() => good.destroy())
    for (const trigger of ['boom', 'reject']) {
      const bad = await Client.open(server.port)
      t.teardown(() => bad.destroy())
      good.write('before\n')
      bad.write(`fine\n${trigger}\nnever answered\n`)
      await bad.waitClose()
      t.equal(bad.data().toString(), 'fine\n', `${trigger}: its earlier reply arrived, then it was closed`)
      good.write('after\n')
    }
    await good.waitBytes('before\nafter\n'.length * 2)
    t.equal(good.data().toString(), 'before\nafter\n'.repeat(2), 'the other connection kept every reply, in order')
    t.equal(good.closed, false)
  })

  t.test(`${name}: chat across connections (and processes, where the model has several)`, async (t) => {
    const server = await serve(t, 'chat')
    const [alice, bob, carol] = await Promise.all([0, 1, 2].map(async () => await Client.open(server.port)))
    t.teardown(() => [alice, bob, carol].forEach((c) => c!.destroy()))
    const text = (c: Client): string => c.data().toString()
    const expectLine = async (c: Client, line: string): Promise<void> => {
      await c.until(() => text(c).split('\n').includes(line), 10_000, JSON.stringify(line))
    }
    // every connection is greeted with the commands
    for (const c of [alice!, bob!, carol!]) await expectLine(c, 'welcome to the chat: login NAME, then say TEXT; quit to leave')
    alice!.write('login alice\n')
    await expectLine(alice!, 'ok welcome alice')
    bob!.write('login bob\n')
    await expectLine(bob!, 'ok welcome bob')
    await expectLine(alice!, 'bob joined')
    carol!.write('login alice\n')
    await expectLine(carol!, 'error name alice is taken')
    alice!.write('say hi there\n')
    await expectLine(bob!, 'alice: hi there')
    // carol has not logged in: no room messages reach her
    carol!.write('say anyone?\n')
    await expectLine(carol!, 'error login first')
    t.same(text(carol!).split('\n').filter((l) => l !== ''), ['welcome to the chat: login NAME, then say TEXT; quit to leave', 'error name alice is taken', 'error login first'],
      'before login: the greeting and her own replies only')
    carol!.write('login carol\n')
    await expectLine(carol!, 'ok welcome carol')
    await expectLine(alice!, 'carol joined')
    await expectLine(bob!, 'carol joined')
    alice!.write('say hi carol\n')
    await expectLine(carol!, 'alice: hi carol')
    bob!.write('quit\n')
    await expectLine(bob!, 'ok bye')
    await bob!.waitClose()
    await expectLine(alice!, 'bob left')
    await expectLine(carol!, 'bob left')
    alice!.destroy() // drops without quit
    await expectLine(carol!, 'alice left')
    const dave = await Client.open(server.port)
    t.teardown(() => dave.destroy())
    dave.write('login alice\n')
    await expectLine(dave, 'ok welcome alice')
    t.notMatch(text(carol!), /alice: hi there/, 'a message said before carol logged in never reaches her')
    t.notMatch(text(alice!), /alice: hi there/, 'a sender does not receive its own broadcast')
  })

  t.test(`${name}: --idle-timeout closes a silent connection, never one whose reply is still being made`, async (t) => {
    const server = await startServer(t, [...modelArgs(model, variant), '--handler', fixture('slow-echo.mjs'), '--idle-timeout', '300ms'], { env: { SLOW_ECHO_MS: '900' } })
    const c = await Client.open(server.port)
    t.teardown(() => c.destroy())
    c.write('slow\n')
    // the handler takes three idle periods: the connection must wait for it, not be cut as idle
    await c.waitBytes(5, 10_000)
    t.equal(c.data().toString(), 'slow\n', 'the reply arrived on the open connection')
    // then nothing is owed and the client is silent: closed once it has been idle that long
    await c.waitClose(10_000)
    t.equal(c.data().toString(), 'slow\n', 'closed after the reply, with nothing else sent')
  })

  t.test(`${name}: SIGTERM with messages in flight → all answered, exit 0`, async (t) => {
    const server = await serve(t, fixture('slow-echo.mjs'))
    const clients = await Promise.all(Array.from({ length: 5 }, async () => await Client.open(server.port)))
    t.teardown(() => clients.forEach((c) => c.destroy()))
    const expected = writeNumberedLines(clients, 100)
    await clients[0]!.waitBytes(1) // replies are flowing: the rest are in flight
    const code = await server.stop('SIGTERM')
    await Promise.all(clients.map(async (c) => await c.waitClose()))
    t.same(clients.map((c) => c.data().toString()), expected, 'every message answered, in order')
    t.equal(code, 0, 'exit code 0')
  })
}
