// Public API of @weft/cli: the program builder, for embedding and tests.
export { buildProgram, main } from './program.js'
