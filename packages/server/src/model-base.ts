import type { ConnectionCounters } from '@echoplex/core'
import type { ConcurrencyModel, ModelName, ModelStats, ServeOptions, StopResult } from './model.js'

/**
 * What every model's primary has in common: its options, the address it listens on once started, its
 * uptime, and the stats envelope around its counters. A model adds only how it serves.
 */
export abstract class BaseModel implements ConcurrencyModel {
  abstract readonly name: ModelName
  protected listeningAt: string | undefined
  protected readonly startedAt = Date.now()

  constructor (protected readonly options: ServeOptions) {}

  abstract start (): Promise<string>
  abstract stats (): Promise<ModelStats>
  abstract stop (graceMs?: number): Promise<StopResult>

  address (): string | undefined { return this.listeningAt }

  /** The stats every model reports: who and since when, its counters, and its own figures in `extra`. */
  protected envelope (counters: ConnectionCounters, extra: Record<string, unknown> = {}): ModelStats {
    return { model: this.name, pid: process.pid, uptimeMs: Date.now() - this.startedAt, ...counters, extra }
  }
}
