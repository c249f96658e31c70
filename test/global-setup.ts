// Runs once before the test files: an incremental build (tsc -b; the dashboard bundle when it is missing), because
// tests import sources but spawned node processes, worker threads and the served dashboard run what is built.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const bin = (name: string) => join(root, 'node_modules', '.bin', name)
  try {
    execFileSync(bin('tsc'), ['-b'], { cwd: root, stdio: 'inherit' })
  } catch {
    // Type errors do not stop tests of sources; what runs from dist (spawned nodes, workers) may then be stale.
    process.stderr.write('global setup: tsc -b failed (above); tests that run built code may use a stale dist/\n')
  }
  if (!existsSync(join(root, 'packages', 'node', 'dashboard', 'index.html'))) {
    execFileSync(bin('vite'), ['build', '--logLevel', 'warn'], { cwd: join(root, 'packages', 'dashboard'), stdio: 'inherit' })
  }
}
