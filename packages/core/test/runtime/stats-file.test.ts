import t from 'tap'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readStatsFile, removeStatsFile, statsFilePath, writeStatsFile } from '../../src/runtime/stats-file.js'

t.test('a server\'s stats file: written atomically, read back, removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-stats-file-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.equal(readStatsFile(4242, dir), null, 'none yet')
  const before = Date.now()
  writeStatsFile(4242, { messages: 7, model: 'fork' }, dir)
  const got = readStatsFile(4242, dir)
  t.same(got?.stats, { messages: 7, model: 'fork' })
  t.ok(got!.at >= before && got!.at <= Date.now())
  writeFileSync(statsFilePath(4243, dir), '{"at": "no"')
  t.equal(readStatsFile(4243, dir), null, 'a torn or foreign file reads as none')
  removeStatsFile(4242, dir)
  t.notOk(existsSync(statsFilePath(4242, dir)))
  removeStatsFile(4242, dir) // twice: nothing to do, no error
})
