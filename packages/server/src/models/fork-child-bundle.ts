/**
 * Entry of the bundled fork child (built into dist/models/fork-child.cjs by scripts/bundle-child.mjs):
 * one CommonJS file holding the child runtime and the built-in handlers, so a child boots without
 * Node's ESM loader or a file per module — a fork child's boot is what strict fork pays per connection.
 *
 * The same file is what a child's startup snapshot is built from (fork-snapshot.ts): run by
 * `node --build-snapshot`, it only loads its modules and names what a child started from the snapshot
 * runs; `node --snapshot-blob` then starts with all of it loaded and compiled.
 */
import { startupSnapshot } from 'node:v8'
import type { HandlerDefinition } from '@echoplex/core'
import chat from '@echoplex/handlers/chat.js'
import echo from '@echoplex/handlers/echo.js'
import http from '@echoplex/handlers/http.js'
import upper from '@echoplex/handlers/upper.js'
import work from '@echoplex/handlers/work.js'
import { enableCompileCache } from '../compile-cache.js'
import { serveForkChild } from './fork-child-run.js'
import { SNAPSHOT_PROBE_ANSWER, SNAPSHOT_PROBE_ENV } from '../ipc/protocol.js'

const bundled: Record<string, HandlerDefinition> = { chat, echo, http, upper, work }

function main (): void {
  // the check fork-snapshot.ts makes of a new snapshot: it starts, and runs this
  if (process.env[SNAPSHOT_PROBE_ENV] === '1') {
    process.stdout.write(SNAPSHOT_PROBE_ANSWER)
    return
  }
  enableCompileCache()
  void serveForkChild(bundled)
}

// (Node 20 answers 1, not true)
if (Boolean(startupSnapshot?.isBuildingSnapshot())) startupSnapshot.setDeserializeMainFunction(main)
else main()
