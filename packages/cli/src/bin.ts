import { Command, CommanderError } from 'commander'
import { describeError, exitProcess, isEchoplexError } from '@echoplex/core'
import { isModelPath, resolveModel, type ModelDescriptor } from '@echoplex/server'

/**
 * Each command's module, loaded only when it runs (or for help): bench, report and the dashboard pull
 * in autocannon, fastify and the report's charts, ~300 ms that `serve` — started by every test and
 * every benchmark repetition — has no use for.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).serveCommand(await modelsNamedByPath(process.argv).catch(fail)),
  bench: async () => (await import('./commands/bench.js')).benchCommand(),
  ps: async () => (await import('./commands/ps.js')).psCommand(),
  report: async () => (await import('./commands/report.js')).reportCommand(),
  compare: async () => (await import('./commands/compare.js')).compareCommand(),
  dashboard: async () => (await import('./commands/dashboard.js')).dashboardCommand(),
  'boot-cost': async () => (await import('./commands/boot-cost.js')).bootCostCommand(),
  new: async () => (await import('./commands/new.js')).newCommand(),
}

/** `serve --model PATH`: the model's own options must be known before the command line is parsed. */
async function modelsNamedByPath (argv: string[]): Promise<ModelDescriptor[]> {
  if (argv[2] !== 'serve') return []
  const refs = argv.flatMap((arg, i) => arg === '--model' || arg === '-m' ? [argv[i + 1] ?? ''] : arg.startsWith('--model=') ? [arg.slice(8)] : [])
  return await Promise.all(refs.filter(isModelPath).map(async (ref) => await resolveModel(ref)))
}

const program = new Command('echoplex')
  .description('concurrent TCP servers with pluggable concurrency models, and benchmarks that compare them')
  .version('0.1.0')
  .showSuggestionAfterError(true)
// a command named: only its module; anything else (help, a typo to suggest for): all of them
const named = process.argv[2]
const loading = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS)
for (const command of await Promise.all(loading.map(async (name) => await COMMANDS[name]!()))) program.addCommand(command)

/** Every user error ends as one line on stderr and a non-zero exit: never a stack trace. */
function fail (err: unknown): never {
  if (err instanceof CommanderError) exitProcess(err.exitCode === 0 ? 0 : 2)
  const line = describeError(err)
  process.stderr.write(`echoplex: ${line}\n`)
  if (!isEchoplexError(err) && process.env.ECHOPLEX_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
  exitProcess(isEchoplexError(err) ? err.exitCode : 1)
}

// commander's own errors (unknown option, bad value) get the same one-line shape as ours
const output = { outputError: (text: string, write: (s: string) => void) => write(`echoplex: ${text.replace(/^error: /, '').replace(/\n(?=.)/g, ' ')}`) }
const withSubcommands = (command: Command): Command[] => [command, ...command.commands.flatMap(withSubcommands)]
for (const command of withSubcommands(program)) command.exitOverride().configureOutput(output)
program.parseAsync(process.argv).catch(fail)
