/** A connection as the budget sees it: bytes it holds in an incomplete message, and how to close it. */
export interface BudgetHolder {
  readonly id: string
  /** Closes the connection: it held the most when all together held `total`, over `budget`. */
  overBudget (total: number, budget: number): void
}

/**
 * The bytes one serving process's connections hold in incomplete messages, against a budget: a
 * per-connection --max-message times --max-connections would allow far more than memory (10,000 ×
 * 8 MiB). When a connection's partial message pushes the total over, the connection holding the most
 * is closed (usually the one growing, not the small ones that happened to come later), and its bytes
 * are released at once.
 */
export class PartialBudget {
  private held = 0
  private readonly holders = new Map<BudgetHolder, number>()
  /** Connections closed for the budget. */
  closed = 0

  constructor (readonly budgetBytes: number) {}

  /** Bytes held now, by all connections. */
  get total (): number { return this.held }

  /** `holder` holds `bytes` now; when that puts the total over the budget, the largest holder is closed. */
  set (holder: BudgetHolder, bytes: number): void {
    const was = this.holders.get(holder) ?? 0
    if (bytes === was) return
    this.held += bytes - was
    if (bytes === 0) this.holders.delete(holder)
    else this.holders.set(holder, bytes)
    while (this.held > this.budgetBytes && this.holders.size > 0) {
      let largest: BudgetHolder | undefined
      let most = -1 // the largest holder's bytes
      for (const [h, n] of this.holders) if (n > most) { largest = h; most = n }
      const total = this.held
      this.release(largest!)
      this.closed++
      largest!.overBudget(total, this.budgetBytes)
    }
  }

  release (holder: BudgetHolder): void {
    const was = this.holders.get(holder)
    if (was === undefined) return
    this.held -= was
    this.holders.delete(holder)
  }
}
