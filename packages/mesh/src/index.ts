// Public API of @weft/mesh (hand-written list of exports).
export {}
