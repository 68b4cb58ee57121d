import type { SharedStore, SharedValue } from './handler.js'

/**
 * The store itself, synchronous and single-owner: it lives in the primary, and every model reaches it
 * there (directly, or over IPC / a MessagePort), which is what makes each operation atomic.
 */
export class MemorySharedStore {
  private readonly map = new Map<string, SharedValue>()

  get (key: string): SharedValue | undefined { return this.map.get(key) }
  set (key: string, value: SharedValue): void { this.map.set(key, value) }
  setIfAbsent (key: string, value: SharedValue): boolean {
    if (this.map.has(key)) return false
    this.map.set(key, value)
    return true
  }

  delete (key: string, ifValue?: SharedValue): boolean {
    if (!this.map.has(key)) return false
    if (ifValue !== undefined && this.map.get(key) !== ifValue) return false
    return this.map.delete(key)
  }

  incr (key: string, by = 1): number {
    const current = this.map.get(key)
    const next = (typeof current === 'number' ? current : 0) + by
    this.map.set(key, next)
    return next
  }

  keys (prefix = ''): string[] { return [...this.map.keys()].filter((k) => k.startsWith(prefix)) }

  /** Applies one operation by name: the form operations take when they cross a process or thread. */
  apply (op: SharedOp): unknown {
    switch (op.op) {
      case 'get': return this.get(op.key)
      case 'set': return this.set(op.key, op.value as SharedValue)
      case 'setIfAbsent': return this.setIfAbsent(op.key, op.value as SharedValue)
      case 'delete': return this.delete(op.key, op.value)
      case 'incr': return this.incr(op.key, op.by)
      case 'keys': return this.keys(op.key)
    }
  }
}

export interface SharedOp {
  op: 'get' | 'set' | 'setIfAbsent' | 'delete' | 'incr' | 'keys'
  key: string
  value?: SharedValue
  by?: number
}

/** A SharedStore (the async face handlers see) over any transport that can carry a SharedOp. */
export function sharedStoreClient (call: (op: SharedOp) => Promise<unknown>): SharedStore {
  return {
    get: async (key) => await call({ op: 'get', key }) as SharedValue | undefined,
    set: async (key, value) => { await call({ op: 'set', key, value }) },
    setIfAbsent: async (key, value) => await call({ op: 'setIfAbsent', key, value }) as boolean,
    delete: async (key, ifValue) => await call(ifValue === undefined ? { op: 'delete', key } : { op: 'delete', key, value: ifValue }) as boolean,
    incr: async (key, by) => await call(by === undefined ? { op: 'incr', key } : { op: 'incr', key, by }) as number,
    keys: async (prefix) => await call({ op: 'keys', key: prefix ?? '' }) as string[],
  }
}

/** The in-process store, for models whose primary is the serving process. */
export function localSharedStore (store = new MemorySharedStore()): SharedStore {
  return sharedStoreClient(async (op) => store.apply(op))
}
