/** Counters one serving process keeps; models add their own fields next to these. */
export interface ConnectionCounters {
  connectionsActive: number
  connectionsTotal: number
  messages: number
  bytesIn: number
  bytesOut: number
  handlerErrors: number
  protocolErrors: number
  socketErrors: number
  timeouts: number
  slowConsumers: number
}

export function newCounters (): ConnectionCounters {
  return { connectionsActive: 0, connectionsTotal: 0, messages: 0, bytesIn: 0, bytesOut: 0, handlerErrors: 0, protocolErrors: 0, socketErrors: 0, timeouts: 0, slowConsumers: 0 }
}

/** Sums counters from several processes (cluster workers, fork children). */
export function addCounters (into: ConnectionCounters, from: Partial<ConnectionCounters>): ConnectionCounters {
  for (const key of Object.keys(into) as (keyof ConnectionCounters)[]) into[key] += from[key] ?? 0
  return into
}
