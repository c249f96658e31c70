// Asking the tfjs engine for a backend the platform lacks: WebGPU in Node (no navigator.gpu) starts wasm and says why;
// a backend name it does not know is refused.
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { describe, expect, it } from 'vitest'

describe('tfjs backend choice', () => {
  it('falls back from WebGPU to wasm where the platform has none, saying why', async () => {
    const said: string[] = []
    const rt = await tfjsRuntime({ backend: 'webgpu' }, { log: (m) => said.push(m) })
    expect(rt.backend).toBe('wasm')
    expect(rt.fallbackReason).toBe('webgpu backend unavailable: this platform has no WebGPU (no navigator.gpu)')
    expect(said).toEqual(['weft/runtime-tfjs: webgpu backend unavailable: this platform has no WebGPU (no navigator.gpu); using wasm'])
    rt.dispose()
  })

  it('refuses a backend it does not know', async () => {
    await expect(tfjsRuntime({ backend: 'webgl' as never })).rejects.toThrow("init.backend must be 'wasm', 'webgpu' or 'cpu', got \"webgl\"")
  })
})
