/**
 * JSON Schema of a results file (schemaVersion 2, which also reads 1), as ajv 8 reads it.
 *
 * Version 2 only adds fields (CPU pinning, timelines, profiles, fixed-rate scenarios): they are
 * optional in the schema, so a version-1 file (without them) stays valid and readable.
 */
import type { ScenarioMetrics } from './results.js'

export const RESULTS_SCHEMA_VERSION = 2
/** Versions this echoplex reads (every later version only added fields). */
export const READABLE_SCHEMA_VERSIONS: readonly number[] = [1, 2]

const num = { type: 'number' }
const int = { type: 'integer' }
const str = { type: 'string' }
const bool = { type: 'boolean' }
const nullable = (s: object): object => ({ anyOf: [s, { type: 'null' }] })
const obj = (required: string[], properties: Record<string, object>): object => ({ type: 'object', required, properties })
const all = (properties: Record<string, object>): object => obj(Object.keys(properties), properties)
/** every `properties` required, `optional` allowed (fields added by a later schema version) */
const allPlus = (properties: Record<string, object>, optional: Record<string, object>): object => obj(Object.keys(properties), { ...properties, ...optional })

const latency = { $ref: '#/$defs/latency' }
const statRef = nullable({ $ref: '#/$defs/stat' })
const cpu = all({ userSec: num, systemSec: num, totalSec: num, wallSec: num, percentOfOneCore: num })
const metricNames: Array<keyof ScenarioMetrics> = [
  'requestsPerSec', 'latencyMeanMs', 'latencyP50Ms', 'latencyP90Ms', 'latencyP99Ms', 'latencyP999Ms', 'serverCpuSec',
  'serverCpuPercent', 'requestsPerCpuSec', 'rssBytes', 'pssBytes', 'rssPerConnectionBytes', 'pssPerConnectionBytes',
  'processes', 'threads', 'connectP50Ms', 'connectP99Ms', 'generatorCpuPercent', 'mismatches', 'errors',
]
const maxMean = all({ max: num, mean: num })

/** JSON Schema (draft 2020-12 subset, as ajv 8 reads it) of a results file, schemaVersion 1 or 2. */
export const resultsSchema = {
  $id: 'https://echoplex.dev/schemas/results-v2.json',
  type: 'object',
  required: ['schemaVersion', 'tool', 'suite', 'environment', 'startedAt', 'finishedAt', 'durationMs', 'complete', 'interrupted', 'peers', 'notes', 'scenarios'],
  properties: {
    schemaVersion: { enum: [1, 2] },
    tool: all({ name: { const: 'echoplex' }, version: str }),
    suite: obj(['name', 'repetitions', 'models', 'peers', 'workloads'], {
      name: str,
      description: str,
      source: nullable(str),
      repetitions: int,
      loadThreads: int,
      loadEngine: { enum: ['auto', 'node', 'native'] },
      models: { type: 'array', items: { $ref: '#/$defs/target' } },
      external: { type: 'array', items: { $ref: '#/$defs/target' } },
      runtimes: { type: 'array', items: { $ref: '#/$defs/runtime' } },
      peers: { type: 'array', items: str },
      workloads: { type: 'array', items: { $ref: '#/$defs/workload' } },
    }),
    environment: allPlus({
      cpuModel: str,
      cores: int,
      availableParallelism: int,
      cpuMHz: num,
      memoryBytes: num,
      freeMemoryBytes: num,
      node: str,
      v8: str,
      platform: str,
      arch: str,
      kernel: str,
      os: str,
      loadAverage: num,
      commit: nullable({ type: 'string', pattern: '^[0-9a-f]{40}$' }),
      dirty: nullable(bool),
    }, {
      nodeExtraCaCerts: str,
      pinning: obj(['mode', 'serverCpus', 'loadCpus', 'method', 'note'], {
        mode: { enum: ['auto', 'manual', 'off', 'unavailable'] },
        serverCpus: nullable(str),
        loadCpus: nullable(str),
        method: nullable(str),
        note: nullable(str),
      }),
    }),
    startedAt: str,
    finishedAt: str,
    durationMs: num,
    complete: bool,
    interrupted: nullable(str),
    peers: { type: 'array', items: all({ name: str, framing: { enum: ['raw', 'http'] }, available: bool, note: nullable(str) }) },
    notes: { type: 'array', items: str },
    scenarios: { type: 'array', items: { $ref: '#/$defs/scenario' } },
  },
  $defs: {
    latency: all({ count: num, min: num, mean: num, stdev: num, p50: num, p90: num, p99: num, p999: num, max: num }),
    stat: all({ n: int, median: num, mean: num, min: num, max: num, stdev: num, cv: num, q1: num, q3: num, iqr: num, values: { type: 'array', items: num } }),
    target: allPlus({
      kind: { enum: ['model', 'peer', 'external'] },
      name: str,
      label: str,
      workers: nullable(int),
      spares: nullable(int),
    }, {
      runtime: { $ref: '#/$defs/runtime' },
      args: { type: 'array', items: str },
      // `bench --target` (kind external)
      external: all({ host: str, port: int, pid: nullable(int) }),
    }),
    runtime: allPlus({ spec: str, node: str, path: str }, { flags: { type: 'array', items: str } }),
    workload: allPlus({
      name: str,
      handler: str,
      framing: { enum: ['raw', 'line', 'length', 'http'] },
      expect: { enum: ['echo', 'upper', 'work', 'script'] },
      options: { type: 'object', additionalProperties: str },
      peers: bool,
      payloadBytes: { type: 'array', items: int },
      connections: { type: 'array', items: int },
      modes: { type: 'array', items: { enum: ['keep-alive', 'churn'] } },
      durationMs: num,
      warmupMs: num,
      pipeline: int,
    }, { fixedRate: nullable(num), loadScript: str, steadyWarmupMs: num }),
    load: allPlus({
      tool: { enum: ['autocannon', 'tcp'] },
      aborted: nullable(str),
      startedAt: str,
      windowMs: num,
      requests: all({ sent: num, completed: num }),
      throughput: all({ requestsPerSec: num, bytesPerSec: num }),
      latency,
      connectLatency: nullable(latency),
      mismatches: num,
      errors: all({
        total: num,
        timeouts: num,
        non2xx: num,
        byKind: { type: 'object', additionalProperties: num },
        byCode: { type: 'object', additionalProperties: num },
      }),
      connectionsOpened: nullable(num),
      generator: obj(['threads', 'process', 'loadThreads'], { threads: int, process: cpu, loadThreads: nullable(cpu), engine: { enum: ['node', 'native'] }, engineNote: nullable(str) }),
      histograms: all({ latency: nullable(str), connectLatency: nullable(str) }),
    }, {
      openLoop: nullable(all({ rate: num, scheduled: num, unsent: num })),
    }),
    tree: obj(['rootPid', 'samples', 'durationMs', 'rootExited', 'processes', 'threads', 'rssBytes', 'pssBytes', 'cpu', 'ctxSwitches', 'zombies', 'series'], {
      rootPid: int,
      intervalMs: num,
      startedAt: str,
      durationMs: num,
      samples: int,
      rootExited: bool,
      processes: all({ max: num, mean: num, seen: int, exited: int }),
      threads: maxMean,
      rssBytes: maxMean,
      pssBytes: nullable(maxMean),
      cpu: all({ userSec: num, systemSec: num, totalSec: num, meanPercent: num, maxPercent: num, fromExitedSec: num }),
      ctxSwitches: all({ voluntary: num, involuntary: num }),
      zombies: all({ max: num }),
      connections: nullable(maxMean),
      series: { type: 'array', items: all({ t: num, processes: num, threads: num, rssBytes: num, cpuPercent: num, zombies: num }) },
    }),
    timeline: obj(['intervalMs', 'origin', 'warmupMs', 'points'], {
      intervalMs: num,
      origin: num,
      warmupMs: num,
      points: {
        type: 'array',
        items: obj(['t'], { t: num, requestsPerSec: nullable(num), p99Ms: nullable(num), rssBytes: nullable(num), cpuPercent: nullable(num), processes: nullable(num) }),
      },
    }),
    profile: obj(['dir', 'files', 'flame'], {
      dir: str,
      files: { type: 'array', items: obj(['file', 'pid', 'bytes'], { file: str, pid: nullable(int), thread: nullable(int), bytes: num, role: nullable(str) }) },
      flame: nullable({ type: 'object' }),
      note: nullable(str),
    }),
    repetition: allPlus({
      repetition: { type: 'integer', minimum: 1 },
      status: { enum: ['ok', 'failed', 'interrupted'] },
      problems: { type: 'array', items: str },
      warnings: { type: 'array', items: str },
      startedAt: str,
      wallMs: num,
      server: allPlus({
        command: { type: 'array', items: str },
        pid: nullable(int),
        pgid: nullable(int),
        address: nullable(str),
        startMs: nullable(num),
        died: bool,
        stop: nullable(all({ code: nullable(int), signal: nullable(str), killed: bool, stopMs: num, leftover: { type: 'array', items: int } })),
        stderrTail: str,
      }, { cpus: nullable(str) }),
      idle: nullable(all({ processes: num, threads: num, rssBytes: num, pssBytes: nullable(num) })),
      load: nullable({ $ref: '#/$defs/load' }),
      tree: nullable({ $ref: '#/$defs/tree' }),
      window: nullable(all({
        from: num,
        to: num,
        samples: int,
        cpuSec: num,
        cpuPercent: num,
        rssBytes: maxMean,
        pssBytes: nullable(maxMean),
        processes: maxMean,
        threads: maxMean,
        zombies: all({ max: num }),
      })),
      derived: nullable(all({
        requestsPerCpuSec: nullable(num),
        serverCpuPercent: nullable(num),
        rssPerConnectionBytes: nullable(num),
        pssPerConnectionBytes: nullable(num),
        connectToFirstByteMs: nullable(all({ count: num, mean: num, p50: num, p99: num, max: num })),
        generatorCpuPercent: num,
        generatorSaturated: bool,
      })),
    }, {
      round: int,
      timeline: nullable({ $ref: '#/$defs/timeline' }),
      profile: nullable({ $ref: '#/$defs/profile' }),
      steadyWarmup: nullable(all({ steps: { type: 'array', items: num }, steady: bool, ms: num })),
    }),
    scenario: allPlus({
      id: str,
      group: str,
      workload: { $ref: '#/$defs/workload' },
      target: { $ref: '#/$defs/target' },
      payloadBytes: int,
      connections: int,
      mode: { enum: ['keep-alive', 'churn'] },
      pipeline: int,
      durationMs: num,
      warmupMs: num,
      loadTool: { enum: ['autocannon', 'tcp'] },
      status: { enum: ['ok', 'failed', 'skipped', 'interrupted', 'not-run'] },
      reason: nullable(str),
      repetitions: { type: 'array', items: { $ref: '#/$defs/repetition' } },
      summary: nullable(all(Object.fromEntries(metricNames.map((k) => [k, statRef])))),
      comparison: nullable(all({ peer: str, peerScenario: str, peerRequestsPerSec: num, ratio: num })),
    }, {
      fixedRate: nullable(obj(['of', 'fraction'], { of: str, fraction: num })),
      rate: nullable(obj(['requestsPerSec', 'basis'], { requestsPerSec: num, basis: str })),
    }),
  },
} as const
