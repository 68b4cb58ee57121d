/**
 * `import()` of a module URL or a package specifier (resolved from this package). One function so the
 * bundled fork child can swap it (scripts/bundle-child.mjs): code compiled into a V8 startup snapshot
 * has no dynamic-import callback, so there it imports through a small CommonJS file loaded at run time.
 */
export async function importModule<T> (specifier: string): Promise<T> {
  return await import(specifier) as T
}
