import { conformance } from './conformance.js'

conformance('fork-reuse')
