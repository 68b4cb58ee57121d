import { defineHandler } from '@echoplex/core'

/** HTTP/1.1 echo: `200` with the request body as the response body (empty body → empty reply). */
export default defineHandler({
  name: 'http',
  framing: 'http',
  onMessage: (request) => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: request.body }),
})
