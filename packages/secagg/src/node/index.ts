// @weft/secagg/node: what only Node.js can offer the protocol (a native X25519).
export { nativeX25519 } from './native-x25519.js'
