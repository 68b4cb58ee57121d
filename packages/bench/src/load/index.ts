export { runTcpLoad, normalizeTcpLoadOptions, connectPhaseFailure, splitEvenly, MAX_DURATION_MS, DEFAULT_AMOUNT_TIME_LIMIT_MS, MAX_DRAIN_MS } from './tcp-load.js'
export type { TcpLoadOptions, TcpLoadResult, CpuUsageSummary, ErrorCounts, LoadMode, LoadTarget } from './tcp-load.js'
export {
  createLatencyHistogram, recordLatencyMs, summarizeLatency, encodeHistogram, decodeHistogram, mergeHistograms, ratePerSecond,
  openLoopSchedule, scheduledCount, correctedLatencyMs, cpuPercentOfOneCore,
} from './latency.js'
export type { LatencySummary, OpenLoopSchedule, CpuSeconds, Histogram } from './latency.js'
export { PayloadFactory, ReplyVerifier, framePayload, asciiUpper, payloadTemplate, framingOverhead, SEQ_DIGITS } from './payload.js'
export type { LoadFraming, Expect, ExpectFn, RequestBatch, RequestSource, Verifier } from './payload.js'
export { loadLoadScript, validateLoadScript, ScriptRequests, FrameCheckVerifier } from './script.js'
export type { LoadScript } from './script.js'
export { errorKindOf } from './result.js'
export type { ErrorKind } from './result.js'
export { ENGINE_CHOICES, ensureNativeEngine, nativeBinDir, nativeUnsupported, selectEngine, NATIVE_SOURCE } from './native.js'
export type { EngineChoice, EngineSelection, NativeAvailability } from './native.js'
