export * from './tree.js'
export * from './sampler.js'
export * from './format.js'
export {
  procSysConf,
  parseStat,
  parseTcpTable,
  parseUnixTable,
  readSocketTable,
  type SysConf,
  type ProcStat,
  type SocketEntry,
  type SocketKind,
} from './procfs.js'
