// Builds the dashboard into packages/node/dashboard, which the node serves at /; relative asset paths, no CDN.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../node/dashboard', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev -w @weft/dashboard` with WEFT_API=http://127.0.0.1:<port> proxies the API of a running node.
    proxy: { '/v1': process.env.WEFT_API ?? 'http://127.0.0.1:7070' },
  },
})
