import type { ResultsStore } from './results-store.js'
import type { RunManager } from './runs.js'

/** What every route module gets. */
export interface DashboardContext {
  store: ResultsStore
  runs: RunManager
  resultsDir: string
  suitesDir: string
}

/** Schema of a results name (a path parameter or a query field). */
export const NAME_HINT = 'must be the name of a results file in the results folder, like quick-2025-01-31T14-05-00Z.json (letters, digits, ".", "_", "-"; no slashes)'
