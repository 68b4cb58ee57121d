import { defineHandler } from '@echoplex/core'

/** Returns every byte it gets, as it gets it. */
export default defineHandler({
  name: 'echo',
  framing: 'raw',
  onMessage: (chunk) => chunk,
})
