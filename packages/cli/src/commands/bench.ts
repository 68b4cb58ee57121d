import { basename, dirname, join, resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { errors, exitProcess } from '@echoplex/core'
import {
  createProgressReporter, describeSuites, formatSuiteList, formatSummaryTable, killAllServers, listSuites, loadSuiteWithModels, parsePinChoice, runSuite,
  withExternalTargets, MODES, PEER_NAMES, ENGINE_CHOICES, ensureNativeEngine, type EngineChoice, type PinChoice, type SuiteOverrides,
} from '@echoplex/bench'
import { defaultResultsPath, RESULTS_DIR, writeResults, type Mode } from '@echoplex/results'
import { collectList, parseDuration, parseInteger, parseSize } from '../parse.js'

interface BenchFlags {
  suite: string
  models?: string[]
  workloads?: string[]
  peers?: boolean | string[]
  duration?: number
  warmup?: number
  steadyWarmup?: number
  connections?: number[]
  payloads?: number[]
  modes?: Mode[]
  repetitions?: number
  workers?: number
  loadThreads?: number
  loadScript?: string
  node?: string[]
  engine?: EngineChoice
  out?: string
  quiet?: boolean
  report?: boolean
  list?: boolean
  pin?: PinChoice
  profile?: boolean
  target?: string[]
  targetPid?: number[]
}

function pinChoice (value: string): PinChoice {
  try {
    return parsePinChoice(value)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}

/** `a,b,c` → items, each checked by `item`. */
function list<T> (item: (v: string) => T) {
  return (value: string): T[] => {
    const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list')
    return [...new Set(parts.map(item))]
  }
}

const names = list((s) => s)
const modes = list((s): Mode => {
  if (!(MODES as readonly string[]).includes(s)) throw new InvalidArgumentError(`expected ${MODES.join(' and/or ')}`)
  return s as Mode
})

function engineChoice (value: string): EngineChoice {
  if (!(ENGINE_CHOICES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected ${ENGINE_CHOICES.join(', ')}`)
  return value as EngineChoice
}

function peers (value: string): boolean | string[] {
  if (value === 'all') return true
  if (value === 'none') return false
  return names(value)
}

/** Columns of the terminal stdout goes to; undefined for a pipe or file: nothing is narrowed. */
function terminalWidth (): number | undefined {
  return process.stdout.isTTY === true && process.stdout.columns > 0 ? process.stdout.columns : undefined
}
const collectPids = (value: string, previous: number[] = []): number[] => [...previous, ...collectList(value).map(parseInteger(1, 4_194_304))]

/** Exit status of an interrupted run: 128 + the signal number, as shells report it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

export function benchCommand (): Command {
  return new Command('bench')
    .description('run a benchmark suite: starts each server itself (or loads --target servers it did not start), loads and samples it, writes results JSON and prints a summary table')
    .option('-s, --suite <name|path>', `suite name (${listSuites().join(', ')}) or a suite file`, 'quick')
    .option('-m, --models <list>', 'models to run, comma-separated: registered names or model files (replaces the suite\'s)', names)
    .option('-w, --workloads <list>', 'workloads or handlers to run, comma-separated (echo, upper, http, work, a suite workload name, or a handler file)', names)
    .option('--handlers <list>', 'same as --workloads', names)
    .option('--load-script <file>', 'a module saying how to build request n and check its reply (export default { request (n), reply (n, req) | check (reply, n, req) }), for handlers that are not an echo')
    .option('--peers <list>', `peers (reference servers) to run: all, none, or a list (${PEER_NAMES.join(', ')})`, peers)
    .option('--no-peers', 'run no peers')
    .option('-d, --duration <duration>', 'measured duration of each scenario (e.g. 2s)', parseDuration)
    .option('--warmup <duration>', 'warmup before each measurement (e.g. 500ms)', parseDuration)
    .option('--steady-warmup <duration>', 'before each measurement, warm up in 1 s steps until req/s is steady, at most this long (0: off)', parseDuration)
    .option('-c, --connections <list>', 'connection counts, comma-separated (e.g. 1,16,256)', list(parseInteger(1, 100_000)))
    .option('--payloads <list>', 'payload sizes, comma-separated (e.g. 64,4KiB,64KiB)', list(parseSize))
    .option('--modes <list>', 'keep-alive and/or churn, comma-separated', modes)
    .option('-r, --repetitions <n>', 'repetitions of every scenario', parseInteger(1, 100))
    .option('--workers <n>', 'workers of cluster and pool', parseInteger(1, 1024))
    .option('--load-threads <n>', 'load generator threads', parseInteger(1, 64))
    .option('--node <list>', 'Node runtimes for the models and Node peers, comma-separated: a node binary path, `current`, or a version (24, 22.12) fetched once from the npm registry into node_modules/.cache/echoplex-node, each maybe followed by Node options for the servers (\'current --single-threaded-gc\'); several run each target once per runtime, side by side (replaces the suite\'s `runtimes`)', names)
    .option('--engine <auto|node|native>', 'raw TCP generator engine: native (compiled C), node, or auto = native when a C compiler is present (default: the suite\'s, else auto)', engineChoice)
    .option('-o, --out <dir>', `folder for the results file (default ${RESULTS_DIR})`)
    .option('-q, --quiet', 'no progress and no table: print only the results path')
    .option('--report', 'also write report.html and report.md next to the results (as `echoplex report` would)')
    .option('--pin <cpus>', 'CPU pinning: auto (default: the server tree and the load generator on disjoint CPU halves when there are ≥ 2 CPUs; off when every target is a --target), none, or SERVER_CPUS:LOAD_CPUS (e.g. 0:1, 0-1:2-3)', pinChoice)
    .option('--profile', 'record V8 CPU profiles of every serving process and thread (next to the results, in <results>.profiles/); the report draws a flame graph per target. Profiling slows the servers: rank with an unprofiled run')
    .option('-t, --target <host:port...>', 'load a server echoplex did not start (another host, a balancer, a container), with every workload and mode of the suite; repeatable or a list; the suite\'s models and peers then run only if --models/--peers name them')
    .option('--target-pid <pid...>', 'pid on this machine of each --target, in the same order: its process tree is sampled like a started server\'s', collectPids)
    .option('--list', 'list the suites, with what each runs, and exit')
    .action(async (flags: BenchFlags & { handlers?: string[] }) => { await bench(flags) })
}

function overridesOf (flags: BenchFlags & { handlers?: string[] }): SuiteOverrides {
  const o: SuiteOverrides = {}
  if (flags.models !== undefined) o.models = flags.models
  const workloads = [...(flags.workloads ?? []), ...(flags.handlers ?? [])]
  if (workloads.length > 0) o.workloads = [...new Set(workloads)]
  // --peers all|none|LIST, --no-peers = none; neither: the suite's choice
  if (flags.peers !== undefined) o.peers = flags.peers
  if (flags.duration !== undefined) {
    if (flags.duration < 100) throw errors.BAD_OPTION('--duration', 'must be at least 100ms')
    o.durationMs = flags.duration
  }
  if (flags.warmup !== undefined) o.warmupMs = flags.warmup
  if (flags.steadyWarmup !== undefined) o.steadyWarmupMs = flags.steadyWarmup
  if (flags.connections !== undefined) o.connections = flags.connections
  if (flags.payloads !== undefined) o.payloadBytes = flags.payloads
  if (flags.modes !== undefined) o.modes = flags.modes
  if (flags.repetitions !== undefined) o.repetitions = flags.repetitions
  if (flags.workers !== undefined) o.workers = flags.workers
  if (flags.loadThreads !== undefined) o.loadThreads = flags.loadThreads
  if (flags.loadScript !== undefined) o.loadScript = resolve(flags.loadScript)
  if (flags.node !== undefined) o.runtimes = flags.node
  if (flags.engine !== undefined) o.loadEngine = flags.engine
  return o
}

async function bench (flags: BenchFlags & { handlers?: string[] }): Promise<void> {
  if (flags.list === true) {
    process.stdout.write(formatSuiteList(describeSuites(), terminalWidth()))
    return
  }
  // a SuiteError (unknown suite, invalid suite file, a bad override, a bad --target) is EPX_BAD_SUITE: one line, exit 2
  let suite = await loadSuiteWithModels(flags.suite, overridesOf(flags))
  const targets = flags.target?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '') ?? []
  if (targets.length > 0) {
    suite = withExternalTargets(suite, targets, flags.targetPid, { models: flags.models !== undefined, peers: flags.peers !== undefined })
  } else if (flags.targetPid !== undefined) {
    throw errors.BAD_OPTION('--target-pid', 'needs --target')
  }
  if (suite.loadEngine === 'native') {
    // fail before any server starts, not in the middle of the suite
    const native = await ensureNativeEngine()
    if (!native.ok) throw errors.NATIVE_ENGINE(native.reason)
  }
  const started = new Date()
  const outPath = defaultResultsPath(suite.name, started, flags.out === undefined ? RESULTS_DIR : resolve(flags.out))
  const quiet = flags.quiet === true
  const progress = quiet ? null : createProgressReporter({ stream: process.stderr })

  const controller = new AbortController()
  let signalled: NodeJS.Signals | null = null
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== null) {
      // a second signal: no more waiting
      progress?.stop()
      killAllServers()
      process.stderr.write(`echoplex: ${signal} again, exiting now (partial results may be missing)\n`)
      exitProcess(SIGNAL_EXIT[signal] ?? 1)
    }
    signalled = signal
    progress?.stop()
    process.stderr.write(`echoplex: ${signal}: stopping the running server and writing partial results\n`)
    controller.abort(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const results = await runSuite(suite, {
    signal: controller.signal,
    outPath,
    ...(flags.pin === undefined ? {} : { pin: flags.pin }),
    ...(flags.profile === true ? { profileDir: outPath.replace(/\.json$/i, '.profiles') } : {}),
    ...(progress === null ? {} : { onProgress: (e) => progress.onProgress(e) }),
  })
  progress?.stop()
  writeResults(outPath, results)
  if (!quiet) process.stdout.write(`${formatSummaryTable(results, { width: terminalWidth() })}\n\n`)
  process.stdout.write(`results: ${outPath}\n`)
  if (flags.report === true) {
    // a report of a run with failures (or a partial one) is still worth reading: failed scenarios are marked in it
    const { writeReport } = await import('@echoplex/report') // only for --report: the charts are ~100 ms to load
    const { html, md } = writeReport([outPath], join(dirname(outPath), basename(outPath).replace(/\.json$/i, '')))
    process.stdout.write(`report: ${html}\n        ${md}\n`)
  }
  const failed = results.scenarios.filter((s) => s.status === 'failed').length
  if (!results.complete) {
    process.stderr.write(`echoplex: interrupted (${results.interrupted ?? 'signal'}): partial results written\n`)
    exitProcess(SIGNAL_EXIT[signalled ?? ''] ?? 1)
  }
  if (failed > 0) {
    process.stderr.write(`echoplex: ${failed} scenario(s) failed (see the table and ${outPath})\n`)
    exitProcess(1)
  }
  exitProcess(0)
}
