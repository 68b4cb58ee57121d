// PLACEHOLDER — being replaced by the HTTP codec implementation
import type { Codec } from './codec.js'
export interface HttpRequest {
  method: string
  /** Request target as sent, e.g. `/path?q=1`. */
  url: string
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string
  /** Header names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>
  body: Buffer
  /** Whether the connection stays open after the response (HTTP/1.1 default, `Connection` header). */
  keepAlive: boolean
}
export interface HttpResponse {
  status?: number
  headers?: Record<string, string | number>
  body?: string | Uint8Array
}
export declare const httpCodec: Codec<HttpRequest, import('../handler.js').Reply | HttpResponse>
