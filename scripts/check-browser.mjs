// CI check: bundles every browser-safe entry point that docs/ARCHITECTURE.md declares (its `weft-packages` block)
// for the browser with esbuild, and fails, naming the chain of imports, on any `node:` import or Node builtin that
// the browser cannot resolve. Prints one line per entry with its minified bundle size.
// Usage: node scripts/check-browser.mjs   (exit status 1 when an entry is not browser-safe)
import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, isAbsolute, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { declaredPackages } from './weft-packages.mjs'

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
const BUILTIN = new RegExp(`^(node:.*|(${builtinModules.filter((m) => !m.startsWith('_')).map(escapeRegExp).join('|')})(/.*)?)$`)

/**
 * @typedef {object} BundleCheck
 * @property {boolean} ok no Node builtin reached and the bundle built
 * @property {number} bytes minified bundle size (0 when it did not build)
 * @property {{ module: string, chain: string[] }[]} offenders each Node builtin with the imports that reach it,
 *   from the entry file to the file importing it
 * @property {string[]} errors esbuild's own errors (an unresolvable import, a syntax error)
 */

/**
 * Bundle one entry file for the browser (esm, minified, nothing written).
 * A bare builtin name (`events`, `buffer`) is accepted when the browser build resolves it anyway (an npm polyfill
 * or a package's `browser` field); a `node:` import never is.
 * @param {string} root the repository root (workspace packages resolve through its node_modules)
 * @param {string} entryFile path of the entry's source, relative to root or absolute
 * @returns {Promise<BundleCheck>}
 */
export async function checkBrowserBundle(root, entryFile) {
  /** @type {{ module: string, importer: string }[]} */
  const found = []
  const nodeBuiltins = {
    name: 'weft-node-builtins',
    setup(b) {
      b.onResolve({ filter: BUILTIN }, async (args) => {
        if (args.pluginData?.weftInner === true) return undefined
        if (!args.path.startsWith('node:')) {
          const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { weftInner: true } })
          if (r.errors.length === 0) {
            // A package's `browser` field that maps the builtin to false: esbuild's empty module, here our own.
            if (r.namespace === '' && !isAbsolute(r.path)) return { path: args.path, namespace: 'weft-disabled' }
            return { path: r.path, namespace: r.namespace, external: r.external, sideEffects: r.sideEffects }
          }
        }
        found.push({ module: args.path, importer: args.importer })
        return { path: args.path, external: true }
      })
      b.onLoad({ filter: /.*/, namespace: 'weft-disabled' }, () => ({ contents: '', loader: 'js' }))
    },
  }
  let result
  try {
    result = await build({
      absWorkingDir: root,
      entryPoints: [entryFile],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      // The packages' TypeScript sources, as vitest resolves them: no build needed.
      conditions: ['weft-source'],
      plugins: [nodeBuiltins],
    })
  } catch (err) {
    const errors = (err.errors ?? [{ text: String(err) }]).map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
    return { ok: false, bytes: 0, offenders: [], errors }
  }
  const inputs = result.metafile.inputs
  const offenders = found.map(({ module, importer }) => ({ module, chain: [...importChain(inputs, relative(root, join(root, entryFile)), relative(root, importer)), module] }))
  const bytes = result.outputFiles.reduce((n, f) => n + f.contents.byteLength, 0)
  return { ok: offenders.length === 0, bytes, offenders, errors: [] }
}

/** The shortest chain of imports from `entry` to `target` in an esbuild metafile's inputs (both relative paths). */
function importChain(inputs, entry, target) {
  const parent = new Map([[entry, undefined]])
  const queue = [entry]
  while (queue.length > 0) {
    const at = queue.shift()
    if (at === target) break
    for (const imp of inputs[at]?.imports ?? []) {
      if (imp.external || parent.has(imp.path)) continue
      parent.set(imp.path, at)
      queue.push(imp.path)
    }
  }
  if (!parent.has(target)) return [target]
  const chain = []
  for (let at = target; at !== undefined; at = parent.get(at)) chain.unshift(at)
  return chain
}

/**
 * Check every declared browser-safe entry of every package present under packages/.
 * @param {string} root the repository root
 * @returns {Promise<{ name: string, entry: string, file?: string, check?: BundleCheck, missing?: string }[]>}
 */
export async function checkBrowserPackages(root) {
  const out = []
  for (const pkg of declaredPackages(root)) {
    for (const entry of pkg.browserEntries) {
      const spec = entry === '.' ? pkg.name : `${pkg.name}/${entry.slice(2)}`
      let manifest
      try {
        manifest = JSON.parse(readFileSync(join(root, 'packages', pkg.dir, 'package.json'), 'utf8'))
      } catch {
        out.push({ name: spec, entry, missing: `no packages/${pkg.dir} yet` })
        continue
      }
      const file = manifest.exports?.[entry]?.['weft-source']
      if (typeof file !== 'string') {
        out.push({ name: spec, entry, check: { ok: false, bytes: 0, offenders: [], errors: [`packages/${pkg.dir}/package.json exports no "${entry}" with a weft-source file`] } })
        continue
      }
      const path = join('packages', pkg.dir, file)
      out.push({ name: spec, entry, file: path, check: await checkBrowserBundle(root, path) })
    }
  }
  return out
}

/** One line per entry, then the chains of any failure. */
export function describeResults(results) {
  const lines = []
  for (const r of results) {
    if (r.missing !== undefined) {
      lines.push(`skip  ${r.name.padEnd(22)} (${r.missing})`)
      continue
    }
    const { ok, bytes, offenders, errors } = r.check
    lines.push(`${ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(22)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB minified  ${r.file}`)
    for (const o of offenders) lines.push(`      imports Node builtin "${o.module}": ${o.chain.join(' -> ')}`)
    for (const e of errors) lines.push(`      ${e}`)
  }
  return lines
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const results = await checkBrowserPackages(root)
  for (const line of describeResults(results)) console.log(line)
  const failed = results.filter((r) => r.check !== undefined && !r.check.ok)
  console.log(failed.length === 0 ? 'browser check: every browser-safe entry bundles without Node' : `browser check: ${failed.length} entr${failed.length === 1 ? 'y' : 'ies'} not browser-safe`)
  process.exitCode = failed.length === 0 ? 0 : 1
}
