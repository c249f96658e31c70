// Public API of @weft/node (hand-written list of exports).
export {}
