/**
 * Worker thread of primeWorkCache: the work handler's digest of each payload it is given, computed
 * by the handler's own function.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { workDigest } from '@echoplex/handlers'

const { rounds, payloads } = workerData as { rounds: number, payloads: Uint8Array[] }
parentPort!.postMessage(payloads.map((p) => workDigest(p, rounds)))
