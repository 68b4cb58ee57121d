import { conformance } from './conformance.js'

conformance('cluster')
