// The browser check of scripts/check-browser.mjs as a test: every declared browser-safe entry bundles for the browser
// without Node, and the check itself refuses a bundle that reaches a Node builtin, naming the chain of imports.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { checkBrowserBundle, checkBrowserPackages, describeResults } from '../scripts/check-browser.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

describe('browser-safe entry points', () => {
  it('bundle for the browser with no node: import and no Node builtin', async () => {
    const results = await checkBrowserPackages(root)
    const checked = results.filter((r) => r.check !== undefined)
    // The packages the architecture promises to browsers, at least.
    expect(checked.map((r) => r.name)).toEqual(expect.arrayContaining(['@weft/protocol', '@weft/runtime', '@weft/data', '@weft/dp', '@weft/secagg', '@weft/fl', '@weft/mesh']))
    const failed = checked.filter((r) => r.check?.ok !== true)
    expect(failed, describeResults(failed).join('\n')).toEqual([])
  })

  it('refuses a bundle that imports node:fs, naming the chain from the entry', async () => {
    const r = await checkBrowserBundle(root, 'test/fixtures/browser-unsafe/entry.ts')
    expect(r.ok).toBe(false)
    expect(r.offenders).toEqual([{ module: 'node:fs', chain: ['test/fixtures/browser-unsafe/entry.ts', 'test/fixtures/browser-unsafe/helper.ts', 'node:fs'] }])
  })

  it('refuses the Node entry of a package (@weft/mesh/node reaches node:crypto and TCP)', async () => {
    const r = await checkBrowserBundle(root, 'packages/mesh/src/node/index.ts')
    expect(r.ok).toBe(false)
    expect(r.offenders.map((o) => o.module)).toContain('node:crypto')
  })
})
