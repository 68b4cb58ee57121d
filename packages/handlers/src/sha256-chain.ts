/**
 * SHA-256 applied `rounds` times, in plain JS on state this module reuses: no object, Buffer or native
 * call per round, so a round costs CPU in the calling thread and nothing else. node:crypto's
 * `createHash()` per round (`digestNodeCrypto`) spends most of its time around the hash instead — a
 * native object, an OpenSSL context, a Buffer and the garbage they leave (malloc/free and GC were about
 * half of the server's samples under `perf` on this VM, the hashing itself 2 %) — which measures how a
 * model shares an allocator and GC helper threads rather than how it spreads CPU.
 * FIPS 180-4, §6.2; checked against node:crypto in handlers/test/sha256-chain.test.ts.
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])
const IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
const W = new Int32Array(64)
const H = new Int32Array(8)
// the message being hashed, then its padding; the digest is written back over its first 32 bytes
let block = new Uint8Array(128)

function compress (m: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const o = at + 4 * i
    W[i] = (m[o]! << 24) | (m[o + 1]! << 16) | (m[o + 2]! << 8) | m[o + 3]!
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!
    const y = W[i - 2]!
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    W[i] = (s0 + W[i - 7]! + s1 + W[i - 16]!) | 0
  }
  let a = H[0]!; let b = H[1]!; let c = H[2]!; let d = H[3]!
  let e = H[4]!; let f = H[5]!; let g = H[6]!; let h = H[7]!
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0
    const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  H[0] = (H[0]! + a) | 0; H[1] = (H[1]! + b) | 0; H[2] = (H[2]! + c) | 0; H[3] = (H[3]! + d) | 0
  H[4] = (H[4]! + e) | 0; H[5] = (H[5]! + f) | 0; H[6] = (H[6]! + g) | 0; H[7] = (H[7]! + h) | 0
}

/** Hashes the first `length` bytes of `block` and writes the digest over its first 32. */
function hashBlockInPlace (length: number): void {
  const padded = ((length + 9 + 63) >>> 6) << 6
  block[length] = 0x80
  block.fill(0, length + 1, padded)
  // the bit length, big-endian in the last 8 bytes (messages here stay far below 2^32 bits)
  const bits = length * 8
  block[padded - 4] = bits >>> 24; block[padded - 3] = bits >>> 16; block[padded - 2] = bits >>> 8; block[padded - 1] = bits
  H.set(IV)
  for (let at = 0; at < padded; at += 64) compress(block, at)
  for (let i = 0; i < 8; i++) {
    const v = H[i]!
    block[4 * i] = v >>> 24; block[4 * i + 1] = v >>> 16; block[4 * i + 2] = v >>> 8; block[4 * i + 3] = v
  }
}

/** sha256 applied `rounds` times: first over `payload`, then over the previous digest. */
export function sha256Chain (payload: Uint8Array, rounds: number): Buffer {
  if (block.length < payload.length + 72) block = new Uint8Array(payload.length + 72)
  block.set(payload)
  hashBlockInPlace(payload.length)
  for (let i = 1; i < rounds; i++) hashBlockInPlace(32)
  return Buffer.from(block.subarray(0, 32))
}
