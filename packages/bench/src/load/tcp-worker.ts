/**
 * Worker-thread entry of the raw TCP load generator. Protocol with the parent (tcp-load.ts):
 *   workerData: EngineConfig (expect is 'echo' | 'upper': functions cannot cross threads; a load script
 *               travels as its path and is imported here)
 *   → { type: 'ready', ready, failed }   after the connect phase
 *   ← { type: 'start', startAt }         absolute start time (absNow() clock)
 *   ← { type: 'stop' }                   hard stop; a result still follows
 *   ← { type: 'abort' }                  instead of start: close everything, a result follows
 *   → { type: 'result', result }         EngineResult
 *   → { type: 'error', message }         the engine could not run
 */
import { parentPort, workerData } from 'node:worker_threads'
import { LoadEngine } from './engine.js'
import type { EngineConfig } from './engine.js'
import { loadLoadScript } from './script.js'
import type { EngineResult } from './result.js'

export type ToWorker = { type: 'start', startAt: number } | { type: 'stop' } | { type: 'abort' }
export type FromWorker =
  | { type: 'ready', ready: number, failed: number }
  | { type: 'result', result: EngineResult }
  | { type: 'error', message: string }

if (parentPort !== null) {
  const port = parentPort
  const post = (msg: FromWorker): void => port.postMessage(msg)
  const cfg = workerData as EngineConfig
  const script = cfg.script === null ? Promise.resolve(undefined) : loadLoadScript(cfg.script, cfg.framing)
  script.then((loaded) => {
    const engine = new LoadEngine(cfg, loaded)
    let running = false
    port.on('message', (msg: ToWorker) => {
      if (msg.type === 'start' && !running) {
        running = true
        engine.run(msg.startAt).then((result) => post({ type: 'result', result }), (err: unknown) => post({ type: 'error', message: String(err) }))
      } else if (msg.type === 'stop') {
        engine.stop()
      } else if (msg.type === 'abort' && !running) {
        running = true
        post({ type: 'result', result: engine.abort() })
      }
    })
    engine.connectAll().then(({ ready, failed }) => post({ type: 'ready', ready, failed }), (err: unknown) => post({ type: 'error', message: String(err) }))
  }).catch((err: unknown) => {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) })
  })
}
