/**
 * The machine a benchmark ran on: CPU, cores, memory, Node, kernel, OS, and the commit of the code.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Environment } from '@echoplex/results'

/** The repository root (same from src/ and dist/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

function git (args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim()
  } catch {
    return null
  }
}

function osName (): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8')
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)
    if (m !== null && m[1] !== undefined && m[1] !== '') return m[1]
  } catch { /* not Linux or unreadable */ }
  try { return os.version() } catch { return os.type() }
}

/** Collects the environment; `repoRoot` is where git is asked for the commit. */
export function collectEnvironment (repoRoot = REPO_ROOT): Environment {
  const cpus = os.cpus()
  const commit = git(['rev-parse', 'HEAD'], repoRoot)
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no'], repoRoot)
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    cpuMHz: cpus[0]?.speed ?? 0,
    memoryBytes: os.totalmem(),
    freeMemoryBytes: os.freemem(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    kernel: os.release(),
    os: osName(),
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    commit: commit !== null && /^[0-9a-f]{40}$/.test(commit) ? commit : null,
    dirty: status === null ? null : status !== '',
    ...(process.env.NODE_EXTRA_CA_CERTS === undefined || process.env.NODE_EXTRA_CA_CERTS === '' ? {} : { nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS }),
  }
}
