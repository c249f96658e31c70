// Runs the shared Runtime compliance suite against the PyTorch engine (CI installs Debian's python3-torch).
import { torchRuntime } from '@weft/runtime-torch'
import { runtimeCompliance } from '../../runtime/test/runtime-compliance.js'

runtimeCompliance('torch-cpu', {
  setup: () => torchRuntime({ device: 'cpu', threads: 1 }),
  teardown: (rt) => rt.dispose(),
})
