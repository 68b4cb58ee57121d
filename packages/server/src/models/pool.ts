import { errors } from '@echoplex/core'
import type { ConcurrencyModel, ModelStats, ServeOptions, StopResult } from '../model.js'

/** Not built yet (issue: the other three models). */
export class PoolModel implements ConcurrencyModel {
  readonly name = 'pool' as const
  constructor (private readonly options: ServeOptions) {}
  async start (): Promise<string> { throw errors.MODEL_FAILED(this.name, 'not implemented yet') }
  address (): string | undefined { return undefined }
  async stats (): Promise<ModelStats> { throw errors.MODEL_FAILED(this.name, 'not implemented yet') }
  async stop (): Promise<StopResult> { void this.options; return { forced: 0 } }
}
