/** 127.x.x.x, ::1, ::ffff:127.x.x.x, localhost and *.localhost (brackets around IPv6 allowed). */
export function isLoopback (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === 'localhost' || h.endsWith('.localhost')
}
