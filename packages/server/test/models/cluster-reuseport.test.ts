import { conformance } from './conformance.js'

// cluster's registry variant: each worker its own SO_REUSEPORT socket (refused in one line where this Node has none)
await conformance('cluster', 'reuseport')
