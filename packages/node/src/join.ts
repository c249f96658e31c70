// The /join page: a browser tab that opens it joins this node's fabric as an FL client (@weft/browser, built by
// Vite into packages/node/join). Public (no API token: anyone who can reach the page may contribute, under the
// fabric's own membership rules) and cross-origin isolated (COOP/COEP), so tfjs-wasm may use threads.
import type { Hono } from 'hono'
import { mountAssets, servePage } from './static-assets.js'

/**
 * Cross-origin isolation (SharedArrayBuffer, wasm threads) and a policy that lets the page run its own scripts,
 * compile WebAssembly, start its worker (and tfjs's thread workers, made from blob: URLs) and open WebSockets to the
 * fabric's nodes, and nothing else.
 */
const PAGE_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** What the page needs to connect: this node's peer id and its WebSocket addresses. */
export interface JoinInfo {
  readonly peerId: string
  /** WebSocket multiaddrs ending in /p2p/<peer id>. */
  readonly bootstrap: readonly string[]
}

/** The WebSocket addresses among a node's multiaddrs, each with the node's peer id. */
export function webSocketAddrs(addrs: readonly string[], peerId: string): string[] {
  return addrs
    .filter((a) => /\/(ws|wss|tls\/ws)(\/|$)/.test(a) && !a.includes('/p2p-circuit'))
    .map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${peerId}`))
}

/** Mounts GET /join, /join/info and /join/assets/<name>. Without a build, /join says how to make one. */
export function mountJoin(app: Hono, dir: string, info: () => JoinInfo): void {
  app.get('/join', (c) => c.redirect('/join/', 301))
  app.get('/join/', (c) => servePage(c, dir, 'join page', PAGE_HEADERS))
  app.get('/join/info', (c) => c.json(info(), 200, { ...PAGE_HEADERS, 'cache-control': 'no-store' }))
  mountAssets(app, '/join/assets', dir, PAGE_HEADERS)
}
