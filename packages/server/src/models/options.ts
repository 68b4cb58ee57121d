import { availableParallelism } from 'node:os'
import type { ModelOption, ServeOptions } from '../model.js'
import type { RecyclePolicy } from '../ipc/protocol.js'

/** `serve` options more than one model takes; each model words what they mean for it. */
export const workersOption = (what: string): ModelOption => ({
  flags: '-w, --workers <n>',
  key: 'workers',
  description: what,
  value: { kind: 'integer', min: 1, max: 1024 },
  default: availableParallelism(),
  defaultDescription: 'number of cores',
})

export const heartbeatOption = (what: string): ModelOption => ({
  flags: '--heartbeat <duration>',
  key: 'heartbeatMs',
  description: what,
  value: { kind: 'duration' },
  default: 5000,
})

/**
 * Recycling, for every multi-process model (gunicorn max_requests + max_requests_jitter, PM2
 * max_memory_restart): a worker over a limit stops taking connections, finishes its own, and is replaced.
 */
export const recycleOptions = (noun: string): ModelOption[] => [
  { flags: '--max-requests <n>', key: 'maxRequests', description: `a ${noun} that handled this many requests (messages) is replaced; 0 never`, value: { kind: 'integer', min: 0, max: 1_000_000_000 }, default: 0 },
  { flags: '--max-requests-jitter <n>', key: 'maxRequestsJitter', description: `each ${noun}'s --max-requests is raised by a random 0…n, so ${noun}s do not recycle together`, value: { kind: 'integer', min: 0, max: 1_000_000_000 }, default: 0 },
  { flags: '--max-memory <size>', key: 'maxMemory', description: `a ${noun} whose resident memory passes this size (e.g. 256MiB) is replaced`, value: { kind: 'size' }, default: 0, defaultDescription: 'none' },
]

/** The recycling limits a model passes to its children. */
export function recyclePolicy (options: Pick<ServeOptions, 'maxRequests' | 'maxRequestsJitter' | 'maxMemory'>): RecyclePolicy {
  return { maxRequests: options.maxRequests ?? 0, maxRequestsJitter: options.maxRequestsJitter ?? 0, maxMemoryBytes: options.maxMemory ?? 0 }
}
