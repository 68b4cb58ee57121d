export * from './header.js'
export * from './allow-list.js'
export * from './admission.js'
