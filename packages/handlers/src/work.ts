import { createHash } from 'node:crypto'
import { defineHandler, handlerOption } from '@echoplex/core'

export const DEFAULT_WORK_ROUNDS = 2000

/** sha256 applied `rounds` times: first over the payload, then over the previous digest. */
export function workDigest (payload: Uint8Array, rounds: number): Buffer {
  let digest = createHash('sha256').update(payload).digest()
  for (let i = 1; i < rounds; i++) digest = createHash('sha256').update(digest).digest()
  return digest
}

/** Rounds per frame: `--option rounds=N` (read once per process or thread). */
export function workRounds (): number {
  const rounds = Number(handlerOption('rounds', String(DEFAULT_WORK_ROUNDS)))
  return Number.isInteger(rounds) && rounds > 0 ? rounds : DEFAULT_WORK_ROUNDS
}

// read on first use, not at import: the CLI imports this module before it has put --option in the environment
let rounds: number | undefined

/** CPU-bound: each length-framed payload costs `rounds` SHA-256 hashes; the reply is the 32-byte digest. */
export default defineHandler({
  name: 'work',
  framing: 'length',
  options: {
    rounds: {
      description: `SHA-256 rounds per frame (default ${DEFAULT_WORK_ROUNDS})`,
      check: (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number.isSafeInteger(Number(v)) ? undefined : 'must be a whole number ≥ 1',
    },
  },
  onMessage: (payload) => workDigest(payload, rounds ??= workRounds()),
})
