#!/usr/bin/env node
// Peer: node:http server answering 200 with the request body echoed back (empty body →
// empty reply), keep-alive. Usage: node node-http-echo.mjs [PORT]  (or env PORT; 0 = any free port).
import http from 'node:http'

const port = Number(process.argv[2] ?? process.env.PORT ?? 0)
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
  req.on('error', () => res.destroy())
})
server.keepAliveTimeout = 30_000
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening 127.0.0.1:${server.address().port} model=node-http pid=${process.pid}\n`)
})
const stop = () => {
  server.close()
  server.closeAllConnections()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
