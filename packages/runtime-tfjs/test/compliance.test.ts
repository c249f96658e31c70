// Runs the shared Runtime compliance suite against the tfjs engine on its wasm and cpu backends.
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { runtimeCompliance } from '../../runtime/test/runtime-compliance.js'

runtimeCompliance('tfjs-wasm', {
  setup: async () => {
    const rt = await tfjsRuntime({ backend: 'wasm' })
    if (rt.backend !== 'wasm') throw new Error(`wasm did not start: ${rt.fallbackReason}`)
    return rt
  },
  teardown: (rt) => rt.dispose(),
})

runtimeCompliance('tfjs-cpu', {
  setup: () => tfjsRuntime({ backend: 'cpu' }),
  teardown: (rt) => rt.dispose(),
  // The plain-JS cpu backend computes convolution gradients with scalar loops: keep CNN inputs small.
  sides: { 'cnn-lenet': 16, 'cnn-mcmahan': 4 },
})
