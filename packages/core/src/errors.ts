/**
 * Every error echoplex raises on purpose carries a stable code (like fastify's FST_ERR_*), so callers
 * and tests match on `code`, never on message text. Messages are one line: the CLI prints them as-is.
 */
export interface ErrorOptions {
  cause?: unknown
  /** Exit status the CLI uses when this error ends a command (default 1). */
  exitCode?: number
  /** HTTP status the dashboard answers with (default 500). */
  statusCode?: number
}

export class EchoplexError extends Error {
  readonly code: string
  /** Exit status the CLI uses when this error ends a command. */
  readonly exitCode: number
  /** HTTP status the dashboard answers with; undefined: an internal error (500). */
  readonly statusCode: number | undefined
  constructor (code: string, message: string, options: ErrorOptions = {}) {
    super(message.replace(/\s*\n\s*/g, ' '), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'EchoplexError'
    this.code = code
    this.exitCode = options.exitCode ?? 1
    this.statusCode = options.statusCode
  }
}

/** A catalogue entry: call it for an error; its code, exit status and HTTP status are readable on it. */
export type Factory<A extends unknown[]> = ((...args: A) => EchoplexError) & {
  code: string
  exitCode: number
  statusCode: number | undefined
}

function define<A extends unknown[]> (code: string, format: (...args: A) => string, exitCode = 1, statusCode?: number): Factory<A> {
  const make = (...args: A): EchoplexError => new EchoplexError(code, format(...args), { exitCode, statusCode })
  return Object.assign(make, { code, exitCode, statusCode })
}

/** Options that make an error of a subclass (SuiteError, ResultsError …) carry an entry's code and statuses. */
export function entryOptions (entry: { exitCode: number, statusCode: number | undefined }, cause?: unknown): ErrorOptions {
  return { exitCode: entry.exitCode, statusCode: entry.statusCode, ...(cause === undefined ? {} : { cause }) }
}

/** The catalogue. Codes never change once released; add new ones at the end of a group. */
export const errors = {
  // command line / configuration (exit 2: usage)
  BAD_OPTION: define('EPX_BAD_OPTION', (flag: string, why: string) => `invalid ${flag}: ${why}`, 2),
  UNKNOWN_MODEL: define('EPX_UNKNOWN_MODEL', (name: string, known: readonly string[]) => `unknown model "${name}" (expected one of: ${known.join(', ')})`, 2),
  UNKNOWN_HANDLER: define('EPX_UNKNOWN_HANDLER', (name: string, known: readonly string[]) => `unknown handler "${name}": not a built-in (${known.join(', ')}) and no such file`, 2),
  HANDLER_LOAD: define('EPX_HANDLER_LOAD', (path: string, why: string) => `handler ${path} failed to load: ${why}`),
  HANDLER_INVALID: define('EPX_HANDLER_INVALID', (path: string, why: string) => `handler ${path} is not a valid handler: ${why}`),
  MODEL_LOAD: define('EPX_MODEL_LOAD', (path: string, why: string) => `model ${path} failed to load: ${why}`, 2),
  MODEL_INVALID: define('EPX_MODEL_INVALID', (path: string, why: string) => `model ${path} is not a valid model descriptor: ${why}`, 2),
  FILE_EXISTS: define('EPX_FILE_EXISTS', (path: string) => `${path} already exists; not overwriting it`, 2),
  // listening
  ADDRESS_IN_USE: define('EPX_ADDRESS_IN_USE', (address: string) => `address already in use: ${address}`),
  ADDRESS_DENIED: define('EPX_ADDRESS_DENIED', (address: string) => `permission denied to listen on ${address}`),
  SOCKET_IN_USE: define('EPX_SOCKET_IN_USE', (path: string) => `UNIX socket ${path} belongs to a live server; not replacing it`),
  LISTEN_FAILED: define('EPX_LISTEN_FAILED', (address: string, why: string) => `cannot listen on ${address}: ${why}`),
  REUSEPORT_UNSUPPORTED: define('EPX_REUSEPORT_UNSUPPORTED', (why: string) => `--sched reuseport is not available: ${why}`, 2),
  // framing (one connection's problem, never the server's)
  LINE_TOO_LONG: define('EPX_LINE_TOO_LONG', (max: number) => `line longer than ${max} bytes`),
  FRAME_TOO_LARGE: define('EPX_FRAME_TOO_LARGE', (size: number, max: number) => `frame of ${size} bytes exceeds the limit of ${max}`),
  HTTP_BAD_REQUEST: define('EPX_HTTP_BAD_REQUEST', (why: string) => `malformed HTTP request: ${why}`),
  HTTP_BODY_TOO_LARGE: define('EPX_HTTP_BODY_TOO_LARGE', (size: number, max: number) => `HTTP body of ${size} bytes exceeds the limit of ${max}`),
  HTTP_HEADERS_TOO_LARGE: define('EPX_HTTP_HEADERS_TOO_LARGE', (max: number) => `HTTP head larger than ${max} bytes`),
  FRAME_TIMEOUT: define('EPX_FRAME_TIMEOUT', (ms: number) => `message not completed within ${ms} ms`),
  HTTP_UNSUPPORTED: define('EPX_HTTP_UNSUPPORTED', (what: string) => `unsupported HTTP feature: ${what}`),
  PARTIAL_BUDGET: define('EPX_PARTIAL_BUDGET', (mine: number, held: number, budget: number) => `incomplete messages held ${held} bytes, over the ${budget} byte budget (--max-buffered); this connection held the most (${mine} bytes)`),
  // PROXY protocol in front of a connection (one connection's problem, never the server's)
  PROXY_HEADER: define('EPX_PROXY_HEADER', (why: string) => `bad PROXY protocol header: ${why}`),
  PROXY_NOT_ALLOWED: define('EPX_PROXY_NOT_ALLOWED', (address: string) => `connection from ${address}, not an allowed proxy (--proxy-allow-from); refused`),
  // runtime
  HANDLER_FAILED: define('EPX_HANDLER_FAILED', (why: string) => `handler failed: ${why}`),
  HANDLER_EXIT: define('EPX_HANDLER_EXIT', (code: number) => `handler called process.exit(${code}); in the event-loop model that fails only its connection`),
  SHUTDOWN_TIMEOUT: define('EPX_SHUTDOWN_TIMEOUT', (open: number, graceMs: number) => `${open} connection(s) still open after the ${graceMs} ms grace period; closed them`),
  MODEL_FAILED: define('EPX_MODEL_FAILED', (model: string, why: string) => `${model} model failed: ${why}`),
  SHARED_FAILED: define('EPX_SHARED_FAILED', (why: string) => `shared store: ${why}`),
  // results files and suites (bench, report, compare, dashboard)
  BAD_RESULTS: define('EPX_BAD_RESULTS', (why: string) => why, 2, 422),
  BAD_SUITE: define('EPX_BAD_SUITE', (why: string) => why, 2, 400),
  NOT_BUILT: define('EPX_NOT_BUILT', (what: string) => `${what} is not built: run pnpm run build`),
  // benchmarks
  LAUNCH_FAILED: define('EPX_LAUNCH_FAILED', (why: string) => why),
  NODE_RUNTIME: define('EPX_NODE_RUNTIME', (spec: string, why: string) => `--node ${spec}: ${why}`, 2),
  LOAD_SCRIPT: define('EPX_LOAD_SCRIPT', (path: string, why: string) => `load script ${path}: ${why}`, 2),
  // dashboard (the HTTP status is the entry's)
  RESULTS_NOT_FOUND: define('EPX_RESULTS_NOT_FOUND', (name: string) => `no results file named ${JSON.stringify(name)}`, 1, 404),
  BAD_RUN_REQUEST: define('EPX_BAD_RUN_REQUEST', (why: string) => why, 2, 400),
  RUN_NOT_FOUND: define('EPX_RUN_NOT_FOUND', (id: string, note = '') => `no run ${id}${note === '' ? '' : ` (${note})`}`, 1, 404),
  RUN_IN_PROGRESS: define('EPX_RUN_IN_PROGRESS', (id: string, suite: string, percent: number) => `a run is already in progress: ${id} (suite ${suite}, ${percent}% done); one run at a time`, 1, 409),
  DASHBOARD_STOPPING: define('EPX_DASHBOARD_STOPPING', () => 'the dashboard is stopping', 1, 503),
  CROSS_ORIGIN: define('EPX_CROSS_ORIGIN', (origin: string) => `cross-origin request from ${origin} refused`, 1, 403),
  NO_SERVER: define('EPX_NO_SERVER', (why: string) => why, 1, 404),
  // load generator
  NATIVE_ENGINE: define('EPX_NATIVE_ENGINE', (why: string) => `native load engine unavailable: ${why}`, 2),
} as const

export function isEchoplexError (err: unknown): err is EchoplexError {
  return err instanceof EchoplexError
}

/** One line describing any thrown value, for logs and CLI output. */
export function describeError (err: unknown): string {
  if (err instanceof Error) return (err.message || err.name).split('\n')[0]!
  return String(err).split('\n')[0]!
}
