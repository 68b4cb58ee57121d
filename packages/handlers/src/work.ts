import { createHash } from 'node:crypto'
import { defineHandler, handlerOption } from '@echoplex/core'
import { sha256Chain } from './sha256-chain.js'

// about as long as 2,000 node-crypto rounds took on one thread (js 12,000 took 0.82× of those, paired, on Node 20 and 24 here)
export const DEFAULT_WORK_ROUNDS = 15_000

/** How the rounds are computed: `js` keeps them in the calling thread's CPU, `node-crypto` allocates per round. */
export const WORK_DIGESTS = ['js', 'node-crypto'] as const
export type WorkDigestKind = typeof WORK_DIGESTS[number]
export const DEFAULT_WORK_DIGEST: WorkDigestKind = 'js'
const isWorkDigest = (v: string): v is WorkDigestKind => (WORK_DIGESTS as readonly string[]).includes(v)

/** The options' defaults as `--option` values: bench writes them into every work scenario it records. */
export const WORK_OPTION_DEFAULTS: Readonly<Record<string, string>> = { rounds: String(DEFAULT_WORK_ROUNDS), digest: DEFAULT_WORK_DIGEST }

/** sha256 applied `rounds` times through node:crypto: a Hash object, a native context and a Buffer per round. */
export function digestNodeCrypto (payload: Uint8Array, rounds: number): Buffer {
  let digest = createHash('sha256').update(payload).digest()
  for (let i = 1; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
  return digest
}

/** sha256 applied `rounds` times: first over the payload, then over the previous digest (the same bytes either way). */
export function workDigest (payload: Uint8Array, rounds: number, digest: WorkDigestKind = DEFAULT_WORK_DIGEST): Buffer {
  return digest === 'js' ? sha256Chain(payload, rounds) : digestNodeCrypto(payload, rounds)
}

/** Rounds per frame: `--option rounds=N` (read once per process or thread). */
export function workRounds (): number {
  const rounds = Number(handlerOption('rounds', String(DEFAULT_WORK_ROUNDS)))
  return Number.isInteger(rounds) && rounds > 0 ? rounds : DEFAULT_WORK_ROUNDS
}

function workDigestKind (): WorkDigestKind {
  const kind = handlerOption('digest', DEFAULT_WORK_DIGEST)
  return isWorkDigest(kind) ? kind : DEFAULT_WORK_DIGEST
}

// read on first use, not at import: the CLI imports this module before it has put --option in the environment
let rounds: number | undefined
let digest: WorkDigestKind | undefined

/** CPU-bound: each length-framed payload costs `rounds` SHA-256 hashes; the reply is the 32-byte digest. */
export default defineHandler({
  name: 'work',
  framing: 'length',
  options: {
    rounds: {
      description: `SHA-256 rounds per frame (default ${DEFAULT_WORK_ROUNDS})`,
      check: (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number.isSafeInteger(Number(v)) ? undefined : 'must be a whole number ≥ 1',
    },
    digest: {
      description: `how rounds are computed: js (CPU in the handler's thread, nothing allocated per round; default) or node-crypto (a createHash() object, native context and Buffer per round: mostly allocator and GC work)`,
      check: (v) => isWorkDigest(v) ? undefined : `must be one of ${WORK_DIGESTS.join(', ')}`,
    },
  },
  onMessage: (payload) => workDigest(payload, rounds ??= workRounds(), digest ??= workDigestKind()),
})
