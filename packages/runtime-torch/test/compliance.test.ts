// Runs the shared Runtime compliance suite against the PyTorch engine (CI installs Debian's python3-torch).
import { torchRuntime } from '@weft/runtime-torch'
import { describe, it } from 'vitest'
import { runtimeCompliance } from '../../runtime/test/runtime-compliance.js'
import { torchAvailable, torchTestDevice } from './available.js'

if (torchAvailable) {
  runtimeCompliance(`torch-${torchTestDevice}`, {
    setup: () => torchRuntime({ device: torchTestDevice, threads: 1 }),
    teardown: (rt) => rt.dispose(),
  })
} else {
  // Skipped where no Python has torch and numpy (available.ts prints why); CI installs them and never skips.
  describe.skip('Runtime compliance: torch-cpu (no Python with torch here)', () => {
    it('needs torch', () => {})
  })
}
