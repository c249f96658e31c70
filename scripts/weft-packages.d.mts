// Types of weft-packages.mjs, for the tests that import it.
export interface DeclaredPackage {
  /** `@weft/<dir>` */
  readonly name: string
  /** Its folder under packages/ (may not exist yet). */
  readonly dir: string
  /** Export subpaths ('.', './x') that must bundle for the browser; empty: none. */
  readonly browserEntries: string[]
  /** The workspace packages its src may import. */
  readonly imports: string[]
}
export function declaredPackages(root: string): DeclaredPackage[]
