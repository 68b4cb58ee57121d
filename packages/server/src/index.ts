import { errors } from '@echoplex/core'
import { MODEL_NAMES, type ConcurrencyModel, type ModelName, type ServeOptions } from './model.js'

export * from './model.js'
export * from './listen.js'
export * from './handler-loader.js'
export { ConnectionServer } from './connection-server.js'
export { BaseModel } from './model-base.js'
export type { SocketSource, Accept } from './sources/socket-source.js'
export { ListenerSource, type ListenerOptions } from './sources/listener.js'

/** Each model lives in its own file and is imported only when chosen. */
const loaders: Record<ModelName, () => Promise<new (options: ServeOptions) => ConcurrencyModel>> = {
  'event-loop': async () => (await import('./models/event-loop.js')).EventLoopModel,
  cluster: async () => (await import('./models/cluster.js')).ClusterModel,
  fork: async () => (await import('./models/fork.js')).ForkModel,
  pool: async () => (await import('./models/pool.js')).PoolModel,
}

export function isModelName (name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name)
}

export async function createModel (name: string, options: ServeOptions): Promise<ConcurrencyModel> {
  if (!isModelName(name)) throw errors.UNKNOWN_MODEL(name, MODEL_NAMES)
  const Model = await loaders[name]()
  return new Model(options)
}
