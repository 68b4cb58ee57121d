/**
 * One connection slot of a load engine: the socket it currently has (persistent: one kept open and
 * reopened after a failure; churn: one per request) and what is outstanding on it.
 */
import type net from 'node:net'
import type { PacedConnection } from './pacer.js'
import { ReplyVerifier, type Verifier } from './payload.js'

export interface Slot extends PacedConnection {
  sock: net.Socket | null
  connecting: boolean
  connStart: number
  firstByte: boolean
  /** Whether the connect → first byte latency of this socket is recorded. */
  recordConnect: boolean
  verifier: Verifier
  /** Bytes of the server's greeting still expected on this socket (0: none, or all seen). */
  greetLeft: number
  /** Churn: latency start of the request this connection is for. */
  pendingStart: number
  /** A request is claimed (counted in `inflight`) but not written yet: a churn transaction still connecting. */
  pending: boolean
  failures: number
  retry: NodeJS.Timeout | null
  connectTimer: NodeJS.Timeout | null
  /** Connect phase: called once when the probe reply arrived (true) or the connection failed (false). */
  onProbe: ((ok: boolean) => void) | null
}

/** A slot with no socket; `capacity` requests may be outstanding on it. */
export function newSlot (index: number, capacity: number, verifier: Verifier = new ReplyVerifier(capacity)): Slot {
  return {
    index,
    sock: null,
    connecting: false,
    connStart: 0,
    firstByte: false,
    recordConnect: false,
    verifier,
    greetLeft: 0,
    nextK: 0,
    pendingStart: 0,
    pending: false,
    failures: 0,
    retry: null,
    connectTimer: null,
    onProbe: null,
  }
}
