/**
 * `process.exit` as it was when echoplex loaded. The event-loop model turns a handler's call to
 * `process.exit` into an error (only that connection fails); echoplex's own exits go through this.
 */
export const exitProcess: (code?: number) => never = process.exit.bind(process)
