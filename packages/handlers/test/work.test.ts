import t from 'tap'
import work, { DEFAULT_WORK_DIGEST, WORK_DIGESTS, workDigest } from '../src/work.js'

t.test('the work digest is sha256 applied `rounds` times', async (t) => {
  // sha256("abc"), then sha256(sha256("abc")) for 2 rounds, by either digest
  for (const kind of WORK_DIGESTS) {
    t.equal(workDigest(Buffer.from('abc'), 1, kind).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', kind)
    t.equal(workDigest(Buffer.from('abc'), 2, kind).toString('hex'), '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358', kind)
  }
  t.equal(DEFAULT_WORK_DIGEST, 'js', 'the default allocates nothing per round')
  t.same(workDigest(Buffer.from('abc'), 50), workDigest(Buffer.from('abc'), 50, 'node-crypto'), 'the same bytes either way')
})

t.test('the digest option is checked', async (t) => {
  const check = work.options!.digest!.check!
  t.equal(check('js'), undefined)
  t.equal(check('node-crypto'), undefined)
  t.equal(check('openssl'), 'must be one of js, node-crypto')
})
