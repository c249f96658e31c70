// Weft's version as advertised in resource ads and the API (kept in step with the package version).
export const WEFT_VERSION = '0.1.0'
