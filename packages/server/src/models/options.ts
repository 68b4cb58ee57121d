import { availableParallelism } from 'node:os'
import type { ModelOption } from '../model.js'

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
