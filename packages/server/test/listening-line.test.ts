import t from 'tap'
import { formatListeningLine, parseListeningLine, tcpHostPort } from '../src/listening-line.js'

t.test('format and parse are inverse for every address form', async (t) => {
  for (const address of ['127.0.0.1:7000', '[::1]:65535', 'unix:/tmp/echoplex-test/s.sock']) {
    const line = formatListeningLine({ address, model: 'event-loop', pid: 4242 })
    t.equal(line, `listening ${address} model=event-loop pid=4242`)
    t.same(parseListeningLine(line), { address, model: 'event-loop', pid: 4242 })
    t.same(parseListeningLine(`${line}\n`), { address, model: 'event-loop', pid: 4242 }, 'a trailing newline is ignored')
  }
})

t.test('anything else is not a listening line', async (t) => {
  for (const line of ['', 'listening', 'listening 127.0.0.1:7000', 'listening 127.0.0.1:7000 model=fork', 'listening 127.0.0.1:7000 model=fork pid=x',
    'stats {}', 'echoplex: listening 127.0.0.1:7000 model=fork pid=1', 'listening 127.0.0.1:7000 model=fork pid=1 extra']) {
    t.equal(parseListeningLine(line), null, JSON.stringify(line))
  }
})

t.test('host and port of TCP addresses; none for a socket path', async (t) => {
  t.same(tcpHostPort('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 })
  t.same(tcpHostPort('[::1]:0'), { host: '::1', port: 0 })
  t.same(tcpHostPort('[fe80::1%lo]:8080'), { host: 'fe80::1%lo', port: 8080 })
  t.equal(tcpHostPort('unix:/tmp/s.sock'), null)
  t.equal(tcpHostPort('127.0.0.1'), null)
})
