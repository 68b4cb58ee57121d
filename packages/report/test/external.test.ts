import t from 'tap'
import { readResults, type Results } from '@echoplex/results'
import { buildReport, renderReportHtml, renderReportMarkdown } from '../src/index.js'
import { BASE, clone } from './fixtures/synthetic.js'

/** The fixture run with one model's scenarios relabelled as an external target (`bench --target`). */
function withExternal (r: Results): { results: Results, label: string } {
  const out = clone(r)
  const label = '10.203.7.2:7000'
  const first = out.scenarios.find((s) => s.target.kind === 'model')!.target.label
  for (const s of out.scenarios) {
    if (s.target.label !== first) continue
    s.target = { kind: 'external', name: label, label, workers: null, spares: null, external: { host: '10.203.7.2', port: 7000, pid: null } }
  }
  return { results: out, label }
}

t.test('external targets are shown like peers, marked "(external)", and never ranked as models', async (t) => {
  const { results, label } = withExternal(readResults(BASE))
  const model = buildReport([results])
  const rows = model.groups.flatMap((g) => g.rows).filter((r) => r.target === label)
  t.ok(rows.length > 0, 'its rows are in the report')
  t.ok(rows.every((r) => r.kind === 'external'))
  t.match(renderReportMarkdown(model), `${label} (external)`)
  t.match(renderReportHtml(model), `${label} <span class="muted">(external)</span>`)
  for (const v of model.verdicts) t.notOk(v.ranking.some((e) => e.target === label), `${v.title}: not ranked among the models`)
})
