// Reads the declared package graph: the fenced `weft-packages` block of docs/ARCHITECTURE.md, which names each
// workspace package, its browser-safe entry points and the workspace packages it may import. check-browser.mjs and
// test/package-graph.test.ts both read it, so the document, the bundle check and the import check cannot drift apart.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * @typedef {object} DeclaredPackage
 * @property {string} name `@weft/<dir>`
 * @property {string} dir its folder under packages/ (may not exist yet: a package being added)
 * @property {string[]} browserEntries export subpaths ('.', './x') that must bundle for the browser; empty: none
 * @property {string[]} imports the workspace packages its src may import (names)
 */

/**
 * Parse the `weft-packages` block of `docs/ARCHITECTURE.md` under `root`.
 * Lines: `@weft/<name>  <entries|->  <imports...|->`; `#` starts a comment.
 * @param {string} root the repository root
 * @returns {DeclaredPackage[]}
 * @throws Error naming the line when the block is missing or a line is malformed
 */
export function declaredPackages(root) {
  const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8')
  const block = /^```weft-packages\n([\s\S]*?)^```$/m.exec(doc)
  if (block === null) {
    throw new Error('docs/ARCHITECTURE.md has no ```weft-packages block')
  }
  const out = []
  for (const raw of block[1].split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') continue
    const [name, entries, ...imports] = line.split(/\s+/)
    if (name === undefined || entries === undefined || !/^@weft\/[a-z0-9-]+$/.test(name)) {
      throw new Error(`weft-packages: cannot read line "${raw.trim()}" (expected: @weft/<name> <entries|-> <imports...|->)`)
    }
    const names = imports.filter((i) => i !== '-').map((i) => (i.startsWith('@weft/') ? i : `@weft/${i}`))
    out.push({
      name,
      dir: name.slice('@weft/'.length),
      browserEntries: entries === '-' ? [] : entries.split(',').map((e) => (e === '.' ? '.' : `./${e.replace(/^\.?\//, '')}`)),
      imports: names,
    })
  }
  return out
}
