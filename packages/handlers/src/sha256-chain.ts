/**
 * SHA-256 applied `rounds` times, in plain JS on state this module reuses: no object, Buffer or native
 * call per round, so a round costs CPU in the calling thread and nothing else. node:crypto's
 * `createHash()` per round (`digestNodeCrypto` in work.ts) spends most of its time around the hash
 * instead — a native object, an OpenSSL context, a Buffer and the garbage they leave (malloc/free were
 * about half of an event-loop server's samples under `perf` on this VM, the hashing itself under 2 %) —
 * which measures how a model shares an allocator and GC helper threads rather than how it spreads CPU.
 *
 * The 64 rounds of a block go eight at a time with the working variables' names rotating instead of
 * their values, and a chained round hashes the previous digest's words directly (its one block's padding
 * never changes): 0.74–0.81× the time of a plain 64-step loop over bytes (medians of paired adjacent
 * windows in one process, on Node 20 and 24).
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
/** The message schedule; W[0..15] is the block being hashed, as big-endian words. */
const W = new Int32Array(64)
/** The hash state: the digest so far. */
const H = new Int32Array(8)

/** One block (W[0..15]) into H. */
function compress (): void {
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!
    const y = W[i - 2]!
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    W[i] = (s0 + W[i - 7]! + s1 + W[i - 16]!) | 0
  }
  let a = H[0]!; let b = H[1]!; let c = H[2]!; let d = H[3]!
  let e = H[4]!; let f = H[5]!; let g = H[6]!; let h = H[7]!
  let t1: number
  for (let i = 0; i < 64; i += 8) {
    t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i + 0]! + W[i + 0]!) | 0
    d = (d + t1) | 0
    h = (t1 + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    t1 = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + ((d & e) ^ (~d & f)) + K[i + 1]! + W[i + 1]!) | 0
    c = (c + t1) | 0
    g = (t1 + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) ^ (h & b) ^ (a & b))) | 0
    t1 = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + ((c & d) ^ (~c & e)) + K[i + 2]! + W[i + 2]!) | 0
    b = (b + t1) | 0
    f = (t1 + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) ^ (g & a) ^ (h & a))) | 0
    t1 = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + ((b & c) ^ (~b & d)) + K[i + 3]! + W[i + 3]!) | 0
    a = (a + t1) | 0
    e = (t1 + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) ^ (f & h) ^ (g & h))) | 0
    t1 = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + ((a & b) ^ (~a & c)) + K[i + 4]! + W[i + 4]!) | 0
    h = (h + t1) | 0
    d = (t1 + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) ^ (e & g) ^ (f & g))) | 0
    t1 = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + ((h & a) ^ (~h & b)) + K[i + 5]! + W[i + 5]!) | 0
    g = (g + t1) | 0
    c = (t1 + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) ^ (d & f) ^ (e & f))) | 0
    t1 = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + ((g & h) ^ (~g & a)) + K[i + 6]! + W[i + 6]!) | 0
    f = (f + t1) | 0
    b = (t1 + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) ^ (c & e) ^ (d & e))) | 0
    t1 = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + ((f & g) ^ (~f & h)) + K[i + 7]! + W[i + 7]!) | 0
    e = (e + t1) | 0
    a = (t1 + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0
  }
  H[0] = (H[0]! + a) | 0; H[1] = (H[1]! + b) | 0; H[2] = (H[2]! + c) | 0; H[3] = (H[3]! + d) | 0
  H[4] = (H[4]! + e) | 0; H[5] = (H[5]! + f) | 0; H[6] = (H[6]! + g) | 0; H[7] = (H[7]! + h) | 0
}

/** SHA-256 of any message, into H. */
function hashMessage (message: Uint8Array): void {
  const padded = ((message.length + 9 + 63) >>> 6) << 6
  const block = new Uint8Array(padded)
  block.set(message)
  block[message.length] = 0x80
  // the length in bits, big-endian in the last 8 bytes (a message here stays far below 2^32 bits)
  const bits = message.length * 8
  block[padded - 4] = bits >>> 24; block[padded - 3] = bits >>> 16; block[padded - 2] = bits >>> 8; block[padded - 1] = bits
  H.set(IV)
  for (let at = 0; at < padded; at += 64) {
    for (let i = 0, o = at; i < 16; i++, o += 4) W[i] = (block[o]! << 24) | (block[o + 1]! << 16) | (block[o + 2]! << 8) | block[o + 3]!
    compress()
  }
}

/** A 32-byte message is one block whose padding never changes: W[8..15] set once per chain. */
function padDigestBlock (): void {
  W[8] = 0x80000000 | 0
  for (let i = 9; i < 15; i++) W[i] = 0
  W[15] = 256
}

/** SHA-256 of the 32-byte digest in H, into H (its block's padding in place: padDigestBlock). */
function rehashDigest (): void {
  // one loop, not H.set(IV): that builtin call per round was 5% of a worker's samples (perf); 0.98× the time
  for (let i = 0; i < 8; i++) { W[i] = H[i]!; H[i] = IV[i]! }
  compress()
}

/** sha256 applied `rounds` times: first over `payload`, then over the previous digest. */
export function sha256Chain (payload: Uint8Array, rounds: number): Buffer {
  hashMessage(payload)
  padDigestBlock()
  for (let i = 1; i < rounds; i++) rehashDigest()
  const digest = Buffer.allocUnsafe(32)
  for (let i = 0; i < 8; i++) digest.writeInt32BE(H[i]!, 4 * i)
  return digest
}
