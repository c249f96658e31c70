#!/usr/bin/env node
// The `weft` command: loads the Node 20 shim first, then dispatches to the commander program.
import '@weft/mesh/shim'

const { main } = await import('./program.js')
await main(process.argv)
