import { faultSuite } from './fault-suite.js'

// fork-reuse whose primary accepts and hands each socket to an idle child (its default is kernel accept)
faultSuite('fork-reuse', 'handoff')
