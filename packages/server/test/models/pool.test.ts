import { conformance } from './conformance.js'

conformance('pool')
