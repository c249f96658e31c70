// The package graph as declared in docs/ARCHITECTURE.md (its `weft-packages` block) against the real one: every
// `@weft/*` import in packages/*/src and every packages/*/package.json. Fails on an undeclared import, a declared
// import no longer used, a package.json that does not declare what its sources import, and a browser-safe file
// importing a package through an entry that is not browser-safe.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type DeclaredPackage, declaredPackages } from '../scripts/weft-packages.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** One `@weft/*` import of a source file. */
interface WorkspaceImport {
  /** The importing file, relative to the repository root. */
  readonly file: string
  /** Whether the file is in a package's Node part (src/node/). */
  readonly nodePart: boolean
  /** `@weft/<name>` */
  readonly pkg: string
  /** '.' or './<sub>' */
  readonly entry: string
  /** `import type` / `export type`: erased from the JavaScript. */
  readonly typeOnly: boolean
}

/** What a package really is: its manifest's workspace dependencies and its sources' workspace imports. */
interface RealPackage {
  readonly name: string
  readonly dir: string
  readonly manifestDeps: string[]
  readonly imports: WorkspaceImport[]
  /** Whether it has TypeScript sources (dataset-fashion-mnist is data only). */
  readonly hasSources: boolean
}

const STATIC_IMPORT = /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](@weft\/[^'"]+)['"]/g
const DYNAMIC_IMPORT = /\bimport\(\s*['"](@weft\/[^'"]+)['"]\s*\)/g

/** The `@weft/*` imports of one file's text (comments that start a line are ignored). */
function workspaceImports(text: string, file: string, nodePart: boolean): WorkspaceImport[] {
  const code = text.replace(/^\s*\/\*[\s\S]*?\*\//gm, '').replace(/^\s*\/\/.*$/gm, '')
  const out: WorkspaceImport[] = []
  const add = (spec: string, typeOnly: boolean): void => {
    const [scope, name, ...sub] = spec.split('/')
    out.push({ file, nodePart, pkg: `${scope}/${name}`, entry: sub.length === 0 ? '.' : `./${sub.join('/')}`, typeOnly })
  }
  for (const m of code.matchAll(STATIC_IMPORT)) add(m[2] as string, m[1] !== undefined)
  for (const m of code.matchAll(DYNAMIC_IMPORT)) add(m[1] as string, false)
  return out
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

function realPackages(): RealPackage[] {
  const out: RealPackage[] = []
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const manifestPath = join(root, 'packages', dir, 'package.json')
    if (!existsSync(manifestPath)) continue
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>
    const deps = ['dependencies', 'devDependencies', 'peerDependencies'].flatMap((k) => Object.keys((manifest[k] as Record<string, string> | undefined) ?? {}))
    const src = join(root, 'packages', dir, 'src')
    const files = sourceFiles(src)
    const imports = files.flatMap((f) => workspaceImports(readFileSync(f, 'utf8'), relative(root, f), relative(src, f).startsWith(`node/`)))
    out.push({
      name: manifest['name'] as string,
      dir,
      manifestDeps: deps.filter((d) => d.startsWith('@weft/')),
      imports: imports.filter((i) => i.pkg !== manifest['name']),
      hasSources: files.length > 0,
    })
  }
  return out
}

/**
 * Every way the real graph departs from the declared one, one sentence each.
 * Declared packages that do not exist yet are skipped (they are being added in parallel).
 */
function graphProblems(declared: readonly DeclaredPackage[], real: readonly RealPackage[]): string[] {
  const problems: string[] = []
  const byName = new Map(declared.map((d) => [d.name, d]))
  const where = 'in the weft-packages block of docs/ARCHITECTURE.md'
  for (const pkg of real) {
    const decl = byName.get(pkg.name)
    if (decl === undefined) {
      problems.push(`${pkg.name} (packages/${pkg.dir}) is not declared ${where}`)
      continue
    }
    if (decl.dir !== pkg.dir) problems.push(`${pkg.name} is declared for packages/${decl.dir} but lives in packages/${pkg.dir}`)
    const used = new Set(pkg.imports.map((i) => i.pkg))
    for (const i of pkg.imports) {
      if (!decl.imports.includes(i.pkg)) problems.push(`${i.file} imports ${i.pkg}, which ${pkg.name} may not import (not declared ${where})`)
      if (!pkg.manifestDeps.includes(i.pkg)) problems.push(`${i.file} imports ${i.pkg}, missing from packages/${pkg.dir}/package.json`)
      const target = byName.get(i.pkg)
      if (decl.browserEntries.length > 0 && !i.nodePart && !i.typeOnly && target !== undefined && !target.browserEntries.includes(i.entry)) {
        const spec = i.entry === '.' ? i.pkg : `${i.pkg}/${i.entry.slice(2)}`
        problems.push(`${i.file} is browser-safe but imports ${spec}, an entry that is not (move the file under src/node/ or import a browser-safe entry)`)
      }
    }
    for (const dep of decl.imports) {
      if (!used.has(dep)) problems.push(`${pkg.name} is declared to import ${dep} ${where}, but no file of packages/${pkg.dir}/src does`)
    }
    for (const dep of pkg.manifestDeps) {
      const target = real.find((r) => r.name === dep)
      if (!used.has(dep) && target?.hasSources !== false) {
        problems.push(`packages/${pkg.dir}/package.json depends on ${dep}, which its sources never import`)
      }
    }
  }
  return [...new Set(problems)]
}

/** Rows of the package table (`| \`@weft/x\` | what | runs in a browser? |`): name → last cell. */
function browserColumn(doc: string): Map<string, string> {
  const rows = new Map<string, string>()
  for (const line of doc.split('\n')) {
    const m = /^\| `(@weft\/[a-z0-9-]+)`[^|]*\|.*\| ([^|]+) \|$/.exec(line)
    if (m !== null) rows.set(m[1] as string, (m[2] as string).trim())
  }
  return rows
}

describe('the package graph', () => {
  const declared = declaredPackages(root)
  const real = realPackages()

  it('matches the graph declared in docs/ARCHITECTURE.md, both ways, and browser-safe files import only browser-safe entries', () => {
    expect(real.length).toBeGreaterThanOrEqual(12)
    expect(graphProblems(declared, real)).toEqual([])
  })

  it("states in the package table's browser column what the browser check enforces", () => {
    const rows = browserColumn(readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8'))
    for (const pkg of real) {
      const decl = declared.find((d) => d.name === pkg.name)
      const cell = rows.get(pkg.name)
      expect(cell, `${pkg.name} has no row in the package table`).toBeDefined()
      expect(cell?.startsWith('yes'), `${pkg.name}: "${cell}" vs browser-safe entries [${decl?.browserEntries.join(', ')}]`).toBe((decl?.browserEntries.length ?? 0) > 0)
    }
  })

  it('fails on an undeclared import, an unused declared import, an undeclared manifest dependency and a Node entry in browser code', () => {
    const decl: DeclaredPackage[] = [
      { name: '@weft/a', dir: 'a', browserEntries: ['.'], imports: ['@weft/b', '@weft/c'] },
      { name: '@weft/b', dir: 'b', browserEntries: ['.'], imports: [] },
      { name: '@weft/c', dir: 'c', browserEntries: [], imports: [] },
      { name: '@weft/later', dir: 'later', browserEntries: ['.'], imports: ['@weft/b'] },
    ]
    const text = "import { x } from '@weft/b/node'\nimport type { Y } from '@weft/d'\n// import { z } from '@weft/c'\n"
    const real: RealPackage[] = [
      { name: '@weft/a', dir: 'a', manifestDeps: ['@weft/b'], imports: workspaceImports(text, 'packages/a/src/a.ts', false), hasSources: true },
      { name: '@weft/b', dir: 'b', manifestDeps: ['@weft/a'], imports: [], hasSources: true },
      { name: '@weft/c', dir: 'c', manifestDeps: [], imports: [], hasSources: true },
    ]
    expect(graphProblems(decl, real)).toEqual([
      'packages/a/src/a.ts is browser-safe but imports @weft/b/node, an entry that is not (move the file under src/node/ or import a browser-safe entry)',
      'packages/a/src/a.ts imports @weft/d, which @weft/a may not import (not declared in the weft-packages block of docs/ARCHITECTURE.md)',
      'packages/a/src/a.ts imports @weft/d, missing from packages/a/package.json',
      '@weft/a is declared to import @weft/c in the weft-packages block of docs/ARCHITECTURE.md, but no file of packages/a/src does',
      'packages/b/package.json depends on @weft/a, which its sources never import',
    ])
  })

  it('reads multi-line, type-only, re-export and dynamic imports', () => {
    const text = "import {\n  a,\n  type B,\n} from '@weft/fl'\nexport type { C } from '@weft/node'\nexport { d } from '@weft/mesh/node'\nimport '@weft/mesh/shim'\nconst m = await import('@weft/data/node')\nconst s = 'import x from \"@weft/cli\"'\n"
    expect(workspaceImports(text, 'f.ts', false).map((i) => `${i.pkg} ${i.entry}${i.typeOnly ? ' type' : ''}`)).toEqual([
      '@weft/fl .',
      '@weft/node . type',
      '@weft/mesh ./node',
      '@weft/mesh ./shim',
      '@weft/data ./node',
    ])
  })
})
