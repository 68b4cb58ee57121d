export * from './proc/index.js'
export * from './load/index.js'
export * from './baselines.js'
