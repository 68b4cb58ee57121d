import { conformance } from './conformance.js'

// strict fork whose spare children accept from the kernel themselves, where the addon builds
await conformance('fork', 'kernel')
