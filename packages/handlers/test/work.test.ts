import t from 'tap'
import { workDigest } from '../src/work.js'

t.test('the work digest is sha256 applied `rounds` times', async (t) => {
  // sha256("abc"), then sha256(sha256("abc")) for 2 rounds
  t.equal(workDigest(Buffer.from('abc'), 1).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.equal(workDigest(Buffer.from('abc'), 2).toString('hex'), '4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358')
})
