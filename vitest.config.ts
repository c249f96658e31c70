// Vitest configuration for every package. Tests import the packages' TypeScript sources: each `@weft/*` entry point
// resolves to the file its package.json names under the `weft-source` export condition, so a change is tested
// without a build. (An alias, not `resolve.conditions`: vitest hands conditions to its test processes' execArgv,
// which worker threads and forked node processes inherit, and those run the built JavaScript.) test/global-setup.ts
// still builds once, incrementally, for what runs from dist: spawned nodes, worker threads, the served dashboard.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineConfig } from 'vitest/config'

/** `@weft/<pkg>[/<sub>]` → the package's source entry, from every package.json's `weft-source` conditions. */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const out: { find: RegExp; replacement: string }[] = []
  for (const dir of readdirSync('packages')) {
    let pkg: { name?: string; exports?: Record<string, { 'weft-source'?: string } | string> }
    try {
      pkg = JSON.parse(readFileSync(join('packages', dir, 'package.json'), 'utf8'))
    } catch {
      continue
    }
    for (const [sub, entry] of Object.entries(pkg.exports ?? {})) {
      const source = typeof entry === 'object' ? entry['weft-source'] : undefined
      if (pkg.name === undefined || source === undefined) continue
      const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`
      out.push({ find: new RegExp(`^${spec.replace(/[/.]/g, '\\$&')}$`), replacement: join(process.cwd(), 'packages', dir, source) })
    }
  }
  return out
}

/**
 * Files that start ten or more node processes each, or several node processes that train at once: two of them at
 * once (or one beside a busy file) overload a 2-core machine until calls time out, so they run one at a time, after
 * the rest.
 */
const FLEETS = [
  'test/store-processes.test.ts',
  'test/fl-handout-processes.test.ts',
  'test/swarm-processes.test.ts',
  'test/jobs-processes.test.ts',
  // Eleven in-process nodes, eight of them training at once (two sites with their aggregators, and the flat job).
  'packages/node/test/fl-sites.test.ts',
  // Five node processes and two browser tabs training at once.
  'test/browser-peer.test.ts',
  // Chaos runs (short form): four to six node processes in network namespaces under faults, one scenario at a time.
  'test/chaos/chaos.test.ts',
  // The one-node Slurm cluster has 2 CPUs: its two test files, one after the other, each with the CPUs to itself.
  'test/slurm-processes.test.ts',
  'test/slurm-batch.test.ts',
]

export default defineConfig({
  resolve: { alias: sourceAliases() },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test/global-setup.ts'],
    setupFiles: ['./test/setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'weft',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...FLEETS],
          // Two cores on CI machines: multi-process tests spawn their own nodes, so keep file parallelism low.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'fleets', include: FLEETS, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
})
