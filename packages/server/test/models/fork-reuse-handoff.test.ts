import { conformance } from './conformance.js'

// fork-reuse whose primary accepts and hands each socket to an idle child (its default is kernel accept)
await conformance('fork-reuse', 'handoff')
