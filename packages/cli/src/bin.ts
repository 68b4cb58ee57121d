import { Command, CommanderError } from 'commander'
import { describeError, exitProcess, isEchoplexError } from '@echoplex/core'
import { isModelPath, resolveModel, type ModelDescriptor } from '@echoplex/server'
import { serveCommand } from './commands/serve.js'
import { benchCommand } from './commands/bench.js'
import { psCommand } from './commands/ps.js'
import { reportCommand } from './commands/report.js'
import { compareCommand } from './commands/compare.js'
import { dashboardCommand } from './commands/dashboard.js'
import { bootCostCommand } from './commands/boot-cost.js'
import { newCommand } from './commands/new.js'

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
  .addCommand(serveCommand(await modelsNamedByPath(process.argv).catch(fail)))
  .addCommand(benchCommand())
  .addCommand(psCommand())
  .addCommand(reportCommand())
  .addCommand(compareCommand())
  .addCommand(dashboardCommand())
  .addCommand(bootCostCommand())
  .addCommand(newCommand())

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
