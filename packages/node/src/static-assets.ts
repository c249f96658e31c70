// Built pages the node serves (the dashboard, the /join page): Vite's index.html and its hashed assets, from a
// directory beside dist/, with the caller's security headers.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Context, Hono } from 'hono'

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
}

/** Asset names Vite writes: one path segment of safe characters (no traversal). */
const ASSET = /^[A-Za-z0-9._-]+$/

/** Answers with `dir`/index.html, or 503 saying how to build it. */
export async function servePage(c: Context, dir: string, what: string, headers: Record<string, string>): Promise<Response> {
  let html: string
  try {
    html = await readFile(join(dir, 'index.html'), 'utf8')
  } catch {
    return c.text(`The ${what} is not built here: run \`npm run build\` in the Weft checkout.\n`, 503)
  }
  return c.html(html, 200, { ...headers, 'cache-control': 'no-cache' })
}

/** Mounts GET `<route>/:name` for the files of `dir`/assets. */
export function mountAssets(app: Hono, route: string, dir: string, headers: Record<string, string>): void {
  app.get(`${route}/:name`, async (c) => {
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
    return c.body(new Uint8Array(body), 200, { ...headers, 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' })
  })
}
