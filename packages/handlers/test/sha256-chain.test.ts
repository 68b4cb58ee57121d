import t from 'tap'
import { randomBytes } from 'node:crypto'
import { sha256Chain } from '../src/sha256-chain.js'
import { digestNodeCrypto as viaNodeCrypto } from '../src/work.js'

t.test('FIPS 180-4 test vectors', async (t) => {
  t.equal(sha256Chain(Buffer.from(''), 1).toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.equal(sha256Chain(Buffer.from('abc'), 1).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  // two blocks: the padding does not fit after 56 bytes
  t.equal(sha256Chain(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), 1).toString('hex'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
})

t.test('the same bytes as node:crypto for every length across the padding boundaries, and for chains', async (t) => {
  let mismatches = 0
  for (let len = 0; len <= 200; len++) {
    const payload = randomBytes(len)
    for (const rounds of [1, 2, 3]) if (!sha256Chain(payload, rounds).equals(viaNodeCrypto(payload, rounds))) mismatches++
  }
  t.equal(mismatches, 0, '603 digests of 0–200 byte payloads, 1–3 rounds')
  const p = randomBytes(64)
  t.same(sha256Chain(p, 2000), viaNodeCrypto(p, 2000), '2,000 rounds')
})

t.test('a long payload, and shorter ones after it, hash right', async (t) => {
  const long = randomBytes(70_000)
  t.same(sha256Chain(long, 2), viaNodeCrypto(long, 2))
  const short = randomBytes(5)
  t.same(sha256Chain(short, 2), viaNodeCrypto(short, 2))
  const a = sha256Chain(short, 1)
  sha256Chain(long, 1)
  t.same(a, viaNodeCrypto(short, 1), 'a returned digest is its own copy, not the hash state')
})
