/** The /proc inspector: process trees (with role names), a sampler over a run, and their text form. */
export * from './tree.js'
export * from './sampler.js'
export * from './format.js'
export * from './identify.js'
export {
  procSysConf,
  parseStat,
  parseTcpTable,
  parseUnixTable,
  readSocketTable,
  readStat,
  scanAllStats,
  type SysConf,
  type ProcStat,
  type SocketEntry,
  type SocketKind,
} from './procfs.js'
