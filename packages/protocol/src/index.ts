// Public API of @weft/protocol (hand-written list of exports).
export {}
