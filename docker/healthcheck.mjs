// The image's HEALTHCHECK: healthy when the server accepts a TCP connection on $ECHOPLEX_PORT. It
// sends nothing, so it works for every handler and with --proxy-protocol (the server closes a
// connection without a header, calling no handler).
import { connect } from 'node:net'

const socket = connect({ host: '127.0.0.1', port: Number(process.env.ECHOPLEX_PORT ?? 7000) })
socket.setTimeout(2000)
socket.on('connect', () => { socket.destroy(); process.exit(0) })
socket.on('timeout', () => process.exit(1))
socket.on('error', () => process.exit(1))
