import t from 'tap'
import { PartialBudget, type BudgetHolder } from '../../src/runtime/partial-budget.js'

function holder (id: string, closed: string[]): BudgetHolder {
  return { id, overBudget: () => { closed.push(id) } }
}

t.test('the holder with the most is closed when the total goes over, and its bytes are released', async (t) => {
  const closed: string[] = []
  const budget = new PartialBudget(100)
  const [a, b, c] = ['a', 'b', 'c'].map((id) => holder(id, closed)) as [BudgetHolder, BudgetHolder, BudgetHolder]
  budget.set(a, 60)
  budget.set(b, 30)
  t.same(closed, [], 'within the budget: no one closed')
  budget.set(c, 20) // 110: a holds the most, not c that pushed it over
  t.same(closed, ['a'], 'the largest holder is closed, not the newest')
  t.equal(budget.total, 50, 'its bytes no longer count')
  t.equal(budget.closed, 1)
  budget.set(b, 0)
  budget.release(c)
  t.equal(budget.total, 0, 'holders that completed or closed release theirs')
})

t.test('one holder alone over the budget is closed', async (t) => {
  const closed: string[] = []
  const budget = new PartialBudget(10)
  budget.set(holder('x', closed), 11)
  t.same(closed, ['x'])
  t.equal(budget.total, 0)
})
