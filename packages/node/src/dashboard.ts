// Serves the built web dashboard (packages/node/dashboard: index.html and hashed assets) from the API server.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Hono } from 'hono'

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
}

/** Asset names Vite writes: one path segment of safe characters (no traversal). */
const ASSET = /^[A-Za-z0-9._-]+$/

// The page loads only its own scripts and styles and talks only to this node.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** Mounts GET / (the page) and GET /assets/<name>. Without a build, / explains how to make one. */
export function mountDashboard(app: Hono, dir: string): void {
  app.get('/', async (c) => {
    let html: string
    try {
      html = await readFile(join(dir, 'index.html'), 'utf8')
    } catch {
      return c.text('The dashboard is not built here: run `npm run build` in the Weft checkout.\n', 503)
    }
    return c.html(html, 200, { ...SECURITY_HEADERS, 'cache-control': 'no-cache' })
  })
  app.get('/assets/:name', async (c) => {
    const name = c.req.param('name')
    const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.'))]
    if (!ASSET.test(name) || type === undefined) return c.json({ error: 'not-found', message: `no asset ${name}` }, 404)
    let body: Buffer
    try {
      body = await readFile(join(dir, 'assets', name))
    } catch {
      return c.json({ error: 'not-found', message: `no asset ${name}` }, 404)
    }
    // Vite puts a content hash in every asset name, so a name never changes meaning.
    return c.body(new Uint8Array(body), 200, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' })
  })
}
