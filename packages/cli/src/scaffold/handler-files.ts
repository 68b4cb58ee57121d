/**
 * The starter files `echoplex new handler NAME` writes: a line handler and a tap test that serves it
 * with the event-loop model on a free port and checks one reply. TypeScript by default, `.mjs` on
 * request; the two differ only in type annotations.
 */

export interface StarterFile { name: string, text: string }

/**
 * For a directory without one: tap runs a `.ts` test as CommonJS unless the package says `module`,
 * and the generated test is an ES module.
 */
export function packageJsonFile (): StarterFile {
  const pkg = { private: true, type: 'module', scripts: { test: 'tap' }, devDependencies: { tap: '^21.0.0' } }
  return { name: 'package.json', text: `${JSON.stringify(pkg, null, 2)}\n` }
}

export function handlerFiles (name: string, language: 'ts' | 'js'): StarterFile[] {
  const ts = language === 'ts'
  const ext = ts ? 'ts' : 'mjs'
  const handlerFile = `${name}.${ext}`
  return [
    { name: handlerFile, text: handlerText(name, handlerFile, ts) },
    { name: `${name}.test.${ext}`, text: testText(name, handlerFile, ts) },
  ]
}

function handlerText (name: string, file: string, ts: boolean): string {
  return `import { defineHandler } from '@echoplex/core'

/**
 * ${name}: a line protocol, one reply per line received. Serve it with any model:
 *   echoplex serve --handler ./${file} --model event-loop   (or cluster, fork, pool)
 * It is loaded by path in whichever process or thread serves a connection, so keep state in
 * ctx.state (per connection) or ctx.shared (server-wide), not in module variables.
 */
export default defineHandler({
  name: '${name}',
  framing: 'line',
  // also: onConnect (ctx) {} and onClose (ctx) {}; ctx.send, ctx.broadcast, ctx.close
  onMessage (line${ts ? ': Buffer' : ''}) {
    return \`\${line.toString().toUpperCase()}\\n\`
  },
})
`
}

function testText (name: string, file: string, ts: boolean): string {
  return `// Run: npx tap ${name}.test.${ts ? 'ts' : 'mjs'} (tap installed: npm i -D tap; echoplex on PATH, or ECHOPLEX=/path/to/echoplex)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const handler = fileURLToPath(new URL('./${file}', import.meta.url))

/** Starts \`echoplex serve\` on a free port; resolves with the port once it prints its listening line. */
async function serve (t${ts ? ': { teardown: (fn: () => unknown) => void }' : ''})${ts ? ': Promise<number>' : ''} {
  // tap's own hooks ride in NODE_OPTIONS; the server has no use for them
  const env = { ...process.env, NODE_OPTIONS: '' }
  const server = spawn(process.env.ECHOPLEX ?? 'echoplex', ['serve', '--model', 'event-loop', '--port', '0', '--handler', handler], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM')
      await once(server, 'exit')
    }
  })
  let out = ''
  server.stdout.setEncoding('utf8')
  for await (const chunk of server.stdout) {
    out += chunk
    const listening = /^listening \\S+:(\\d+) /m.exec(out)
    if (listening !== null) return Number(listening[1])
  }
  throw new Error(\`echoplex serve exited before listening (status \${server.exitCode})\`)
}

/** Sends one line and resolves with the first line that comes back. */
async function ask (port${ts ? ': number' : ''}, line${ts ? ': string' : ''})${ts ? ': Promise<string>' : ''} {
  const socket = connect(port, '127.0.0.1')
  socket.setEncoding('utf8')
  socket.write(\`\${line}\\n\`)
  let reply = ''
  for await (const chunk of socket) {
    reply += chunk
    if (reply.includes('\\n')) break
  }
  socket.destroy()
  return reply
}

t.test('${name} answers a line with the line upper-cased', async (t) => {
  const port = await serve(t)
  t.equal(await ask(port, 'hello'), 'HELLO\\n')
})
`
}
