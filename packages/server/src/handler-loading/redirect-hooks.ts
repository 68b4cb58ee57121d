/**
 * Module resolve hooks that send `@echoplex/core` and `@echoplex/handlers` (and their subpaths) to the
 * running echoplex's own copies, whatever directory the importing handler lives in. The same function
 * serves both hook APIs: `module.registerHooks` (synchronous, in-thread) and `module.register` (this
 * file is then the hooks module, loaded on Node's hooks thread and configured through `initialize`).
 */

/** What `initialize` receives: the packages to redirect and a module URL from which they resolve. */
export interface RedirectData {
  packages: readonly string[]
  anchorURL: string
}

interface ResolveContext { parentURL?: string | undefined, [key: string]: unknown }
type NextResolve<R> = (specifier: string, context?: ResolveContext) => R

/** A resolve hook: an own package resolves as if `anchorURL` imported it, the rest as usual. */
export function redirectOwnPackages ({ packages, anchorURL }: RedirectData) {
  const owns = (specifier: string): boolean => packages.some((name) => specifier === name || specifier.startsWith(`${name}/`))
  return function resolve<R> (specifier: string, context: ResolveContext, next: NextResolve<R>): R {
    return owns(specifier) ? next(specifier, { ...context, parentURL: anchorURL }) : next(specifier, context)
  }
}

let hook: ReturnType<typeof redirectOwnPackages> | undefined

export function initialize (data: RedirectData): void {
  hook = redirectOwnPackages(data)
}

export async function resolve (specifier: string, context: ResolveContext, next: NextResolve<unknown>): Promise<unknown> {
  return hook === undefined ? await next(specifier, context) : await hook(specifier, context, next)
}
