import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '../helpers/client.js'

export const MODELS = ['event-loop', 'cluster', 'fork', 'pool'] as const

interface Teardown { teardown: (fn: () => unknown) => void }

/** A fresh directory outside the repository (no node_modules on its way up), removed in teardown. */
export function outsideDir (t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'echoplex-handler-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writeFile (dir: string, name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** The 1-based line of `text` that contains `marker`. */
export function lineOf (text: string, marker: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(marker))
  if (index < 0) throw new Error(`no line with ${marker}`)
  return index + 1
}

/** Sends one line on a new connection; resolves with what came back up to the first newline (or the close). */
export async function ask (port: number, line: string): Promise<string> {
  const client = await Client.open(port)
  try {
    client.write(`${line}\n`)
    await client.until(() => client.data().includes('\n') || client.closed, 10_000, 'a reply line')
    return client.data().toString()
  } finally {
    client.destroy()
  }
}

/** Waits until `read()` matches `pattern` (a log line written by another process arrives when it does). */
export async function eventually (read: () => string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: got ${read().slice(-2000)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return read()
}

export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
