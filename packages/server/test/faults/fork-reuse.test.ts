import { faultSuite } from './fault-suite.js'

faultSuite('fork-reuse')
