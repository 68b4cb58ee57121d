import { conformance } from './conformance.js'

conformance('event-loop')
