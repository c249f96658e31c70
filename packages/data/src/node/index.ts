// Node-only part of @weft/data: file loaders and data-set discovery.
export {}
