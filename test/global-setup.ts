// Runs once before the test files: an incremental build (tsc -b; the dashboard bundle when it is missing), because
// tests import sources but spawned node processes, worker threads and the served dashboard run what is built.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const bin = (name: string) => join(root, 'node_modules', '.bin', name)
  execFileSync(bin('tsc'), ['-b'], { cwd: root, stdio: 'inherit' })
  if (!existsSync(join(root, 'packages', 'node', 'dashboard', 'index.html'))) {
    execFileSync(bin('vite'), ['build', '--logLevel', 'warn'], { cwd: join(root, 'packages', 'dashboard'), stdio: 'inherit' })
  }
}
