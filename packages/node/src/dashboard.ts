// Serves the built web dashboard (packages/node/dashboard: index.html and hashed assets) from the API server.
import type { Hono } from 'hono'
import { mountAssets, servePage } from './static-assets.js'

// The page loads only its own scripts and styles and talks only to this node.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** Mounts GET / (the page) and GET /assets/<name>. Without a build, / explains how to make one. */
export function mountDashboard(app: Hono, dir: string): void {
  app.get('/', (c) => servePage(c, dir, 'dashboard', SECURITY_HEADERS))
  mountAssets(app, '/assets', dir, SECURITY_HEADERS)
}
