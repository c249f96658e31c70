// Types of check-browser.mjs, for test/browser-bundle.test.ts.
export interface BundleCheck {
  readonly ok: boolean
  /** Minified bundle size (0 when it did not build). */
  readonly bytes: number
  /** Each Node builtin reached, with the chain of files from the entry to it. */
  readonly offenders: { readonly module: string; readonly chain: string[] }[]
  readonly errors: string[]
}
export interface EntryResult {
  readonly name: string
  readonly entry: string
  readonly file?: string
  readonly check?: BundleCheck
  readonly missing?: string
}
export function checkBrowserBundle(root: string, entryFile: string): Promise<BundleCheck>
export function checkBrowserPackages(root: string): Promise<EntryResult[]>
export function describeResults(results: EntryResult[]): string[]
