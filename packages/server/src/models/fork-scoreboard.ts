import type { KernelAcceptAddon } from '../sources/kernel-accept.js'

/** What a child is doing, as its slot says (0: no child, or one still booting). */
export const SLOT_IDLE = 1
export const SLOT_SERVING = 2
/** idle, and not accepting: the primary parked it (warm, out of the kernel's rotation) */
export const SLOT_PARKED = 3
/** Per slot: state, connections served. */
const FIELDS = 2

/**
 * fork with kernel accept: each child's state in shared memory (httpd prefork's scoreboard). A child
 * takes its connections from the kernel, so the primary is not told of each one; instead the child
 * writes its slot (serving, idle, how many it has served) and the primary reads every slot when it
 * looks after its spares, a few times a second. No message per connection crosses the IPC channel.
 */
export class ForkScoreboard {
  private readonly cells: Int32Array

  constructor (addon: KernelAcceptAddon, readonly fd: number, readonly slots: number) {
    this.cells = new Int32Array(addon.boardMap(fd, slots * FIELDS * 4))
  }

  /** A new scoreboard of `slots` slots, all empty (the primary's; children map its descriptor). */
  static create (addon: KernelAcceptAddon, slots: number): ForkScoreboard {
    const fd = addon.boardCreate(slots * FIELDS * 4)
    if (fd < 0) throw new Error(`cannot create the scoreboard (errno ${-fd})`)
    return new ForkScoreboard(addon, fd, slots)
  }

  write (slot: number, state: number, served: number): void {
    Atomics.store(this.cells, slot * FIELDS + 1, served)
    Atomics.store(this.cells, slot * FIELDS, state)
  }

  state (slot: number): number { return Atomics.load(this.cells, slot * FIELDS) }
  served (slot: number): number { return Atomics.load(this.cells, slot * FIELDS + 1) }
}
