#!/usr/bin/env node
// Peer: the smallest possible Node echo server — net + socket.pipe(socket).
// Usage: node node-net-echo.mjs [PORT]   (or env PORT; 0 = any free port). Binds 127.0.0.1.
import net from 'node:net'

const port = Number(process.argv[2] ?? process.env.PORT ?? 0)
const sockets = new Set()
const server = net.createServer((socket) => {
  sockets.add(socket)
  socket.on('error', () => {})
  socket.on('close', () => sockets.delete(socket))
  socket.pipe(socket)
})
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening 127.0.0.1:${server.address().port} model=node-net pid=${process.pid}\n`)
})
const stop = () => {
  server.close()
  for (const s of sockets) s.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
