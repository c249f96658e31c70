// Runs the test suite (vitest) and closes with one line: "N passed, N failed[, N skipped]". Outside CI, test groups
// skipped because something outside the repository is missing (test/requirements.ts) are listed before it, and the
// closing line says how to enable them. Checks of .ci/run's own ($WEFT_CI_CHECKS) count too. Arguments go to vitest
// (e.g. a file filter). Exits with vitest's status.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const results = join(root, 'test-results')
const report = join(results, 'vitest.json')
const skipsFile = process.env.WEFT_TEST_SKIPS ?? join(results, 'skipped-requirements.jsonl')
mkdirSync(results, { recursive: true })
rmSync(skipsFile, { force: true })
rmSync(report, { force: true })

const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
const run = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, WEFT_TEST_SKIPS: skipsFile },
})
const status = run.status ?? 1

let counts
try {
  const r = JSON.parse(readFileSync(report, 'utf8'))
  // A test file that fails to load counts as a failure even though it ran no test.
  const failedFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length
  counts = { passed: r.numPassedTests ?? 0, failed: (r.numFailedTests ?? 0) + failedFiles, skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0) }
} catch (err) {
  console.log(`no test report at ${report}: ${err.message}`)
  counts = { passed: 0, failed: 1, skipped: 0 }
}

// Checks .ci/run made itself (the newcomer's quick start), one JSON line each: { name, ok, detail }.
if (process.env.WEFT_CI_CHECKS !== undefined) {
  try {
    for (const line of readFileSync(process.env.WEFT_CI_CHECKS, 'utf8').split('\n')) {
      if (line.trim() === '') continue
      const c = JSON.parse(line)
      console.log(`ci check ${c.ok ? 'passed' : 'FAILED'}: ${c.name} (${c.detail})`)
      if (c.ok) counts.passed++
      else counts.failed++
    }
  } catch (err) {
    console.log(`ci checks unreadable: ${err.message}`)
    counts.failed++
  }
}

/** Skipped groups by requirement: { requirement: { reason, groups: Set } }. */
const skipped = new Map()
try {
  for (const line of readFileSync(skipsFile, 'utf8').split('\n')) {
    if (line.trim() === '') continue
    const s = JSON.parse(line)
    const entry = skipped.get(s.requirement) ?? { reason: s.reason, groups: new Set() }
    entry.groups.add(s.group)
    skipped.set(s.requirement, entry)
  }
} catch {
  // No file: nothing was skipped for a missing requirement.
}

const HOW = {
  'fashion-mnist': { what: 'Fashion-MNIST', how: 'npm install (brings @weft/dataset-fashion-mnist) or WEFT_DATA' },
  chromium: { what: "Debian's chromium", apt: ['chromium'] },
  torch: { what: 'Python with torch', apt: ['python3-torch', 'python3-numpy', 'libopenblas0-openmp'] },
  slurm: { what: 'a Slurm cluster', how: 'sudo apt install slurm-wlm munge, then (as root) scripts/slurm-cluster.sh start' },
  netns: { what: 'network namespaces (root)', how: 'run as root with nftables and iproute2 installed' },
}

let tail = ''
if (skipped.size > 0) {
  console.log('\nskipped for a missing requirement (CI installs these and runs every group):')
  for (const [name, { reason, groups }] of skipped) {
    console.log(`  ${HOW[name]?.what ?? name}: ${[...groups].join('; ')}`)
    console.log(`    why: ${reason.split('\n')[0]}`)
  }
  const apt = [...new Set([...skipped.keys()].flatMap((k) => HOW[k]?.apt ?? []))]
  const other = [...skipped.keys()].filter((k) => HOW[k]?.apt === undefined).map((k) => HOW[k]?.how ?? k)
  const enable = [apt.length > 0 ? `sudo apt install ${apt.join(' ')}` : '', ...other].filter((x) => x !== '').join('; ')
  tail = ` (not run for lack of ${[...skipped.keys()].map((k) => HOW[k]?.what ?? k).join(', ')}: ${enable})`
}
console.log(`${counts.passed} passed, ${counts.failed} failed${counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''}${tail}`)
process.exit(status)
