/**
 * Stacks for errors a handler raised: what a log line needs to point at the handler's own file and
 * line (source-mapped when the handler is TypeScript: the loader turns source maps on).
 */

/** The error's stack, or undefined when it has none (a thrown string, an object). */
export function errorStack (err: unknown): string | undefined {
  return err instanceof Error && typeof err.stack === 'string' ? err.stack : undefined
}

/**
 * An error rebuilt on this side of a thread or process boundary, keeping the stack from where it was
 * thrown: a stack captured here would point at the code that received it.
 */
export function remoteError (message: string, stack?: string): Error {
  const err = new Error(message)
  if (stack !== undefined) err.stack = stack
  return err
}
