// Loaded before every test file: the same Node 20 shim the CLI loads first.
import '@weft/mesh/shim'
