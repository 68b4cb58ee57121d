/**
 * Options a user passes to a handler with `--option key=value`. They travel in the environment, so
 * every process and thread that loads the handler sees the same values.
 */
export const HANDLER_OPTIONS_ENV = 'ECHOPLEX_HANDLER_OPTIONS'

export function handlerOptions (): Record<string, string> {
  const raw = process.env[HANDLER_OPTIONS_ENV]
  if (raw === undefined || raw === '') return {}
  try {
    const parsed: unknown = JSON.parse(raw)
    return parsed !== null && typeof parsed === 'object' ? parsed as Record<string, string> : {}
  } catch {
    return {}
  }
}

export function handlerOption (key: string, fallback: string): string {
  return handlerOptions()[key] ?? fallback
}
