import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { errors } from '@echoplex/core'
import { handlerFiles, packageJsonFile } from '../scaffold/handler-files.js'

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/

interface NewHandlerFlags { js?: boolean }

export function newCommand (): Command {
  return new Command('new')
    .description('write starter files into the current directory')
    .addCommand(new Command('handler')
      .description('a handler (TypeScript, or .mjs with --js) and its tap test; never overwrites')
      .argument('<name>', 'handler name: letters, digits, - and _, starting with a letter')
      .option('--js', 'JavaScript (.mjs) instead of TypeScript')
      .action((name: string, flags: NewHandlerFlags) => { newHandler(name, flags, process.cwd()) }))
    // anything but a known kind is a one-line usage error (commander would print the help page as the error)
    .argument('[kind]')
    .action((kind?: string) => {
      throw errors.BAD_OPTION('echoplex new', `${kind === undefined ? 'no kind given' : `unknown kind "${kind}"`} (expected: handler, as in echoplex new handler NAME)`)
    })
}

function newHandler (name: string, flags: NewHandlerFlags, dir: string): void {
  if (!NAME.test(name)) throw errors.BAD_OPTION('handler name', `"${name}": use letters, digits, - and _, starting with a letter`)
  const files = handlerFiles(name, flags.js === true ? 'js' : 'ts')
  const taken = files.find((file) => existsSync(join(dir, file.name)))
  if (taken !== undefined) throw errors.FILE_EXISTS(taken.name)
  const pkgPath = join(dir, 'package.json')
  if (!existsSync(pkgPath)) files.push(packageJsonFile())
  else if (flags.js !== true && !isModulePackage(pkgPath)) {
    process.stderr.write(`echoplex: note: package.json here lacks "type": "module"; tap runs ${files[1]!.name} as an ES module only with it\n`)
  }
  for (const file of files) {
    try {
      // 'wx': never replace a file, even one that appeared since we looked
      writeFileSync(join(dir, file.name), file.text, { flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw errors.FILE_EXISTS(file.name)
      throw err
    }
  }
  const [handler, test, ...rest] = files.map((file) => file.name)
  process.stdout.write(`wrote ${[handler, test, ...rest].join(', ')}\n  serve it: echoplex serve --handler ./${handler}\n  test it:  npx tap ${test}\n`)
}

function isModulePackage (path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { type?: unknown }).type === 'module'
  } catch {
    return false
  }
}
