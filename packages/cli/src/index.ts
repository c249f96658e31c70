// Public API of @weft/cli: the program builder, for embedding and tests.
export { buildProgram, main } from './program.js'
export { type LocalNode, type LocalNodeInit, startLocalNode, waitUntil } from './local-fabric.js'
export { formatPeers, formatStatus } from './commands/node.js'
