import { readFileSync } from 'node:fs'

/** Descriptors kept free beyond connections: IPC, logs, handler files, spawning children. */
export const DESCRIPTOR_RESERVE = 32

/** This process's soft limit on open files (RLIMIT_NOFILE), from /proc; undefined when unreadable. */
export function openFilesLimit (): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return line === null || line[1] === 'unlimited' ? undefined : Number(line[1])
  } catch {
    return undefined
  }
}

/**
 * How many connections this process can hold without running out of descriptors: the configured
 * limit, lowered to what `ulimit -n` leaves after the reserve. Hitting EMFILE is worse than refusing
 * cleanly: a cluster worker then cannot even receive the socket the primary hands it.
 */
export function connectionBudget (configured: number, limit = openFilesLimit()): number {
  if (limit === undefined) return configured
  const room = limit > 2 * DESCRIPTOR_RESERVE ? limit - DESCRIPTOR_RESERVE : Math.floor(limit / 2)
  return Math.max(1, Math.min(configured, room))
}
