#!/usr/bin/env node
// After a failed `tap` run: repeats each failed assertion, with its diagnostics, from the results tap
// saved (.tap/test-results), so the end of a long log (what CI shows) names what failed. Exits 1.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = '.tap/test-results'
const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.tap') ? [join(dir, e.name)] : [])
let found = 0
try {
  for (const file of files(root)) {
    const lines = readFileSync(file, 'utf8').split('\n')
    const subtests = [] // the enclosing subtests' names, by indentation
    for (let i = 0; i < lines.length; i++) {
      const sub = /^(\s*)# Subtest: (.*)$/.exec(lines[i])
      if (sub !== null) { subtests.length = sub[1].length / 4; subtests.push(sub[2]); continue }
      // a failed assertion, not the subtests that failed because of it
      if (!/^\s*not ok /.test(lines[i]) || /# time=/.test(lines[i])) continue
      found++
      const depth = /^\s*/.exec(lines[i])[0].length / 4
      console.log(`\n${[relative(root, file).replace(/\.tap$/, ''), ...subtests.slice(0, depth)].join(' > ')}: ${lines[i].trim()}`)
      // its diagnostics: the indented YAML block up to `...`
      if (/^\s*---$/.test(lines[i + 1] ?? '')) for (let j = i + 2; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) console.log(lines[j])
    }
  }
} catch (err) {
  console.log(`failed tests: no saved results to read (${err.message})`)
}
console.log(`\n${found} failed assertion(s), repeated from ${root}`)
process.exit(1)
