/**
 * Entry of the bundled fork child (built into dist/models/fork-child.cjs by scripts/bundle-child.mjs):
 * one CommonJS file holding the child runtime and the built-in handlers, so a child boots without
 * Node's ESM loader or a file per module — a fork child's boot is what strict fork pays per connection.
 */
import type { HandlerDefinition } from '@echoplex/core'
import chat from '@echoplex/handlers/chat.js'
import echo from '@echoplex/handlers/echo.js'
import http from '@echoplex/handlers/http.js'
import upper from '@echoplex/handlers/upper.js'
import work from '@echoplex/handlers/work.js'
import { enableCompileCache } from '../compile-cache.js'
import { serveForkChild } from './fork-child-run.js'

enableCompileCache()
const bundled: Record<string, HandlerDefinition> = { chat, echo, http, upper, work }
void serveForkChild(bundled)
