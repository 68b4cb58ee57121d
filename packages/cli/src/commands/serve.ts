import { Command, Option } from 'commander'
import { DEFAULT_LIMITS, DEFAULT_PROXY_ALLOW_FROM, HANDLER_OPTIONS_ENV, LOG_FORMATS, ProxyAllowList, checkHandlerOptions, errors, exitProcess, removeStatsFile, writeStatsFile, type ProxyProtocolOptions, type ServerLimits } from '@echoplex/core'
import {
  BUILTIN_MODELS, formatListeningLine, isLoopback, loadHandler, missingFolder, modelNames, resolveHandlerPath, resolveModel,
  type ListenTarget, type ModelDescriptor, type ModelOption, type OptionValue, type ServeOptions,
} from '@echoplex/server'
import { collectKeyValue, collectList, formatDurationFlag, formatSize, parseDuration, parseInteger, parsePort, parseSize } from '../parse.js'

/** Exit status when the grace period ran out and connections were closed by force. */
export const EXIT_FORCED_STOP = 3

interface ServeFlags {
  model: string
  handler: string
  host?: string
  port: number
  unix?: string
  maxConnections: number
  maxMessage: number
  maxHeader: number
  idleTimeout: number
  frameTimeout: number
  maxWriteBuffer: number
  maxBuffered: number
  grace: number
  option: Record<string, string>
  logLevel?: string
  logFormat: string
  // (`--proxy-protocol` arrives as flags.proxyProtocol: unknown here, since ServeOptions.proxyProtocol
  // shares its name and the model options below are written by ServeOptions key)
  proxyAllowFrom?: string[]
  /** model options (see modelOptions), by ServeOptions key */
  [key: string]: unknown
}

const VALUE_PARSERS: Record<Exclude<OptionValue['kind'], 'choice'>, (v: OptionValue) => (text: string) => unknown> = {
  integer: (v) => parseInteger((v as { min: number }).min, (v as { max: number }).max),
  duration: () => parseDuration,
  size: () => parseSize,
}

/**
 * The options of every registered model (and of a model loaded by path), each flag once: a flag two
 * models share (`--workers`) lists what it means for each. Defaults are the chosen model's, applied
 * after parsing, since two models may differ.
 */
/** A model option's default as the user would type it (`5s`, `8MiB`). */
function shownDefault (option: ModelOption): string | undefined {
  if (option.defaultDescription !== undefined) return option.defaultDescription
  if (option.default === undefined) return undefined
  if (typeof option.default === 'number' && option.value.kind === 'duration') return formatDurationFlag(option.default)
  if (typeof option.default === 'number' && option.value.kind === 'size') return formatSize(option.default)
  return String(option.default)
}

function modelOptions (descriptors: readonly ModelDescriptor[]): Option[] {
  const byFlags = new Map<string, Array<{ model: string, option: ModelOption }>>()
  for (const d of descriptors) {
    for (const option of d.options) byFlags.set(option.flags, [...(byFlags.get(option.flags) ?? []), { model: d.name, option }])
  }
  return [...byFlags.entries()].map(([flags, uses]) => {
    const described = uses.map(({ model, option }) => {
      const shown = shownDefault(option)
      return `${model}: ${option.description}${shown === undefined ? '' : ` (default: ${shown})`}`
    }).join('; ')
    const first = uses[0]!.option
    const cli = new Option(flags, described)
    if (first.value.kind === 'choice') cli.choices([...new Set(uses.flatMap((u) => u.option.value.kind === 'choice' ? u.option.value.choices : []))])
    else cli.argParser(VALUE_PARSERS[first.value.kind](first.value))
    return cli
  })
}

export function serveCommand (extraModels: readonly ModelDescriptor[] = []): Command {
  const d = DEFAULT_LIMITS
  const command = new Command('serve')
    .description('serve a handler with one concurrency model; prints "listening <address> model=<m> pid=<pid>" when ready')
    .option('-m, --model <name|path>', `concurrency model: ${modelNames().join(', ')}, or a module that default-exports a model descriptor`, 'event-loop')
    .option('-H, --handler <name|path>', 'built-in handler (echo, upper, http, chat, work) or a handler module file', 'echo')
    .option('--host <host>', 'TCP address to bind (default 127.0.0.1; anything but loopback prints a warning)')
    .option('-p, --port <n>', 'TCP port (0 picks a free one)', parsePort, 7000)
    .option('--unix <path>', 'listen on a UNIX socket instead of TCP (a stale socket file is replaced, a live one is not)')
    .option('--max-connections <n>', 'open connections before new ones are refused', parseInteger(1, 10_000_000), d.maxConnections)
    // defaults shown as a user would type them (8MiB, 120s), not as bytes and milliseconds
    .addOption(new Option('--max-message <size>', 'largest line, frame or HTTP body (e.g. 64KiB, 8MiB)').argParser(parseSize).default(d.maxMessageBytes, formatSize(d.maxMessageBytes)))
    .addOption(new Option('--max-header <size>', 'largest HTTP request head').argParser(parseSize).default(d.maxHeaderBytes, formatSize(d.maxHeaderBytes)))
    .addOption(new Option('--idle-timeout <duration>', 'close a connection silent this long (0 disables)').argParser(parseDuration).default(d.idleTimeoutMs, formatDurationFlag(d.idleTimeoutMs)))
    .addOption(new Option('--frame-timeout <duration>', 'close a connection whose started message is not complete this long after (0 disables)').argParser(parseDuration).default(d.frameTimeoutMs, formatDurationFlag(d.frameTimeoutMs)))
    .addOption(new Option('--max-write-buffer <size>', 'unsent bytes one connection may hold before it is dropped as a slow consumer').argParser(parseSize).default(d.maxWriteBufferBytes, formatSize(d.maxWriteBufferBytes)))
    .addOption(new Option('--max-buffered <size>', 'bytes all connections together may hold in incomplete messages; past it the connection holding the most is closed').argParser(parseSize).default(d.maxBufferedBytes, formatSize(d.maxBufferedBytes)))
    .addOption(new Option('--grace <duration>', 'on SIGTERM/SIGINT, how long in-flight messages may take before connections are closed').argParser(parseDuration).default(d.graceMs, formatDurationFlag(d.graceMs)))
    .option('-o, --option <key=value>', 'option for the handler, repeatable (e.g. --option rounds=5000 for work)', collectKeyValue, {})
    .option('--proxy-protocol', 'behind a load balancer: every connection opens with a PROXY protocol v1/v2 header, and handlers see the client it names')
    .option('--proxy-allow-from <cidr...>', 'with --proxy-protocol: balancer addresses/CIDR blocks trusted to send the header (default 127.0.0.0/8 ::1/128); others are refused', collectList)
    .option('--log-level <level>', 'pino log level on stderr (fatal, error, warn, info, debug)')
    .addOption(new Option('--log-format <format>', 'log lines on stderr: json (one object a line) or pretty (for people)').choices(LOG_FORMATS).default('json'))
  for (const option of modelOptions([...BUILTIN_MODELS, ...extraModels])) command.addOption(option)
  return command.action(async (flags: ServeFlags, cmd: Command) => {
    const descriptor = await resolveModel(flags.model)
    // the chosen model's defaults for its options the user left out
    for (const option of descriptor.options) {
      const name = cmd.options.find((o) => o.flags === option.flags)!.attributeName()
      flags[option.key] = cmd.getOptionValueSource(name) === undefined ? option.default : flags[name]
    }
    await serve(flags, descriptor)
  })
}

async function serve (flags: ServeFlags, descriptor: ModelDescriptor): Promise<void> {
  if (flags.unix !== undefined && flags.host !== undefined) throw errors.BAD_OPTION('--unix', 'cannot be combined with --host')
  const noFolder = flags.unix === undefined ? null : missingFolder(flags.unix)
  if (noFolder !== null) throw errors.BAD_OPTION('--unix', noFolder)
  const listen: ListenTarget = flags.unix !== undefined ? { path: flags.unix } : { host: flags.host ?? '127.0.0.1', port: flags.port }
  if ('host' in listen && !isLoopback(listen.host)) {
    process.stderr.write(`echoplex: warning: binding to ${listen.host}, reachable beyond this machine\n`)
  }
  // the handler is loaded once here, before any child: a file that does not load, or an --option it
  // declares and refuses (`rounds=abc`), is one line now instead of a crash loop in every worker
  // children and worker threads inherit the environment: that is how handler options and log level
  // reach them; set before the first load, since a handler may read its options as it loads (framing)
  process.env[HANDLER_OPTIONS_ENV] = JSON.stringify(flags.option)
  const handlerPath = resolveHandlerPath(flags.handler)
  const handler = await loadHandler(handlerPath)
  const badOption = checkHandlerOptions(handler, flags.option)
  if (badOption !== undefined) throw errors.BAD_OPTION('--option', badOption)
  if (flags.logLevel !== undefined) process.env.ECHOPLEX_LOG_LEVEL = flags.logLevel
  process.env.ECHOPLEX_LOG_FORMAT = flags.logFormat
  const limits: ServerLimits = {
    maxConnections: flags.maxConnections,
    maxMessageBytes: flags.maxMessage,
    maxHeaderBytes: flags.maxHeader,
    idleTimeoutMs: flags.idleTimeout,
    frameTimeoutMs: flags.frameTimeout,
    maxQueuedMessages: DEFAULT_LIMITS.maxQueuedMessages,
    maxWriteBufferBytes: flags.maxWriteBuffer,
    graceMs: flags.grace,
    maxBufferedBytes: flags.maxBuffered,
  }
  const proxyProtocol = proxyOptions(flags)
  let stopping = false
  const chosen: Partial<ServeOptions> = {}
  for (const option of descriptor.options) (chosen as Record<string, unknown>)[option.key] = flags[option.key]
  const model = await descriptor.create({
    ...chosen,
    handlerPath,
    listen,
    limits,
    proxyProtocol,
    onFatal: (err) => {
      if (stopping) return
      stopping = true
      process.stderr.write(`echoplex: ${err.message}\n`)
      void model.stop(0).finally(() => exitProcess(1))
    },
  })

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`echoplex: ${signal} again, exiting now\n`)
      exitProcess(130)
    }
    stopping = true
    model.stop(flags.grace).then(({ forced }) => {
      if (forced > 0) {
        process.stderr.write(`echoplex: ${errors.SHUTDOWN_TIMEOUT(forced, flags.grace).message}\n`)
        exitProcess(EXIT_FORCED_STOP)
      }
      exitProcess(0)
    }, (err: unknown) => {
      process.stderr.write(`echoplex: stop failed: ${String((err as Error)?.message ?? err)}\n`)
      exitProcess(1)
    })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  // `echoplex ps` reads roles from process titles; children set their own
  process.title = 'echoplex primary'
  // SIGHUP: rolling restart where the model has workers to replace (cluster, pool); never the default (exit)
  process.on('SIGHUP', () => {
    if (model.restart === undefined || stopping) {
      process.stderr.write(`echoplex: SIGHUP ignored: the ${descriptor.name} model has no workers to restart\n`)
      return
    }
    model.restart().then((n) => process.stdout.write(`restarted ${n} worker(s)\n`), (err: Error) => process.stderr.write(`echoplex: restart failed: ${err.message}\n`))
  })
  // a live look at the model's own counters (fork spawn waits, respawns…) without stopping it
  // (also left in a file for processes that did not start it: the dashboard's live view)
  process.on('SIGUSR2', () => {
    model.stats().then((stats) => {
      const all = { ...stats, model: descriptor.name }
      writeStatsFile(process.pid, all)
      process.stdout.write(`stats ${JSON.stringify(all)}\n`)
    }, () => {})
  })
  process.on('exit', () => removeStatsFile(process.pid))
  const address = await model.start()
  process.stdout.write(`${formatListeningLine({ address, model: descriptor.name, pid: process.pid })}\n`)
}

/** `--proxy-protocol [--proxy-allow-from …]`, checked here so a bad CIDR is one line before anything starts. */
function proxyOptions (flags: ServeFlags): ProxyProtocolOptions | undefined {
  if (flags.proxyProtocol !== true) {
    if (flags.proxyAllowFrom !== undefined) throw errors.BAD_OPTION('--proxy-allow-from', 'needs --proxy-protocol')
    return undefined
  }
  const allowFrom = new ProxyAllowList(flags.proxyAllowFrom ?? DEFAULT_PROXY_ALLOW_FROM).cidrs
  return { allowFrom: [...allowFrom] }
}
