import { faultSuite } from './fault-suite.js'

faultSuite('event-loop')
