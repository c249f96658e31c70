// Public API of @weft/runtime (hand-written list of exports).
export * from './dataset.js'
