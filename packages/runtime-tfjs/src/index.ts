// Public API of @weft/runtime-tfjs (hand-written list of exports).
export {}
