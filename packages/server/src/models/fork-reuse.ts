/** `fork-reuse`: the fork model with children reused for connection after connection (httpd prefork); see fork.ts. */
export { forkReuse as default } from './fork.js'
