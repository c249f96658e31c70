// Builds the /join page into packages/node/join, which a node started with --join serves at /join/: relative asset
// paths, the training worker as an ES module, tfjs's wasm binaries as assets (no CDN).
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('./join', import.meta.url)),
  base: './',
  worker: { format: 'es' },
  build: {
    outDir: fileURLToPath(new URL('../node/join', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
})
