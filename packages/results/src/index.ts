/**
 * Benchmark results: the file's shape and JSON Schema, reading (validated) and writing, where they
 * live, and the pure figures derived from them (spread, summaries, ratios to peers). bench writes
 * them; report, the dashboard and the CLI read them without loading the load generators.
 */
export type * from './config.js'
export type * from './measures.js'
export type * from './results.js'
export * from './stats.js'
export * from './summary.js'
export * from './schema.js'
export * from './file.js'
export * from './paths.js'
export * from './runtime.js'
export { checkSchema, validatorFor } from './validate.js'
export { TOOL_VERSION } from './version.js'
