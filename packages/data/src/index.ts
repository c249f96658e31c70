// Public API of @weft/data (hand-written list of exports).
export {}
