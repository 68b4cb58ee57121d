/**
 * The line a server prints on stdout once it accepts connections, and the one thing its launchers
 * (bench, tests, scripts) wait for: `listening <address> model=<m> pid=<pid>`. The peer servers of
 * benchmarks/baselines/ print the same line from their own languages.
 */

export interface ListeningLine {
  /** `127.0.0.1:PORT`, `[::1]:PORT` or `unix:PATH` */
  address: string
  model: string
  /** the server's root process */
  pid: number
}

const LISTENING = /^listening (\S+) model=(\S+) pid=(\d+)$/

export function formatListeningLine ({ address, model, pid }: ListeningLine): string {
  return `listening ${address} model=${model} pid=${pid}`
}

/** The fields of a listening line (surrounding whitespace ignored), or null when `line` is not one. */
export function parseListeningLine (line: string): ListeningLine | null {
  const m = LISTENING.exec(line.trim())
  if (m === null) return null
  return { address: m[1]!, model: m[2]!, pid: Number(m[3]) }
}

/** Host and port of a TCP address (`127.0.0.1:7000`, `[::1]:7000`); null for a socket path. */
export function tcpHostPort (address: string): { host: string, port: number } | null {
  const m = /^(?:\[(.*)\]|([^:]*)):(\d+)$/.exec(address)
  if (m === null) return null
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: Number(m[3]) }
}
