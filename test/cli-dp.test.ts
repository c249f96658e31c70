// `weft dp` as a user runs it: the published MNIST ε values, the noise inverse, and bad options.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const weft = (...args: string[]) => run(process.execPath, [BIN, ...args])
const json = async (...args: string[]) => JSON.parse((await weft(...args, '--json')).stdout)

// TensorFlow Privacy's MNIST tutorial: N = 60000, batch 256, δ = 1e-5, steps = floor(epochs · N / 256).
const q = String(256 / 60_000)
const mnist = [
  { z: 1.1, epochs: 60, epsilon: 3.01 },
  { z: 1.3, epochs: 15, epsilon: 1.19 },
  { z: 0.7, epochs: 45, epsilon: 7.1 },
]
const stepsOf = (epochs: number) => String(Math.floor((epochs * 60_000) / 256))

describe('weft dp epsilon', () => {
  for (const { z, epochs, epsilon } of mnist) {
    it(`z = ${z}, ${epochs} epochs on MNIST: ε ≈ ${epsilon} (classic), less with the tight conversion`, async () => {
      const args = ['dp', 'epsilon', '--noise-multiplier', String(z), '--sample-rate', q, '--steps', stepsOf(epochs), '--delta', '1e-5']
      const classic = await json(...args)
      expect(classic).toMatchObject({ delta: 1e-5, noiseMultiplier: z, sampleRate: 256 / 60_000, steps: Number(stepsOf(epochs)), conversion: 'classic' })
      expect(Math.abs(classic.epsilon - epsilon)).toBeLessThan(0.05)
      expect(classic.order).toBeGreaterThan(1)
      const tight = await json(...args, '--conversion', 'tight')
      expect(tight.epsilon).toBeLessThan(classic.epsilon)
    })
  }

  it('prints ε and the optimal order as text without --json', async () => {
    const { stdout } = await weft('dp', 'epsilon', '--noise-multiplier', '1.1', '--sample-rate', q, '--steps', stepsOf(60), '--delta', '1e-5')
    expect(stdout).toMatch(/^epsilon 3\.0\d* at delta 0\.00001 \(classic conversion, optimal RDP order [\d.]+\)/)
  })
})

describe('weft dp noise', () => {
  it('inverts epsilon: the noise multiplier for ε = 3.01 over 60 epochs is the tutorial 1.1, and reaches that ε', async () => {
    const out = await json('dp', 'noise', '--target-epsilon', '3.01', '--sample-rate', q, '--steps', stepsOf(60), '--delta', '1e-5')
    expect(out.noiseMultiplier).toBeCloseTo(1.1, 2)
    expect(out.epsilon).toBeLessThanOrEqual(3.01)
    const back = await json('dp', 'epsilon', '--noise-multiplier', String(out.noiseMultiplier), '--sample-rate', q, '--steps', stepsOf(60), '--delta', '1e-5')
    expect(back.epsilon).toBeCloseTo(3.01, 4)
  })

  it('says when a target ε is unreachable', async () => {
    await expect(weft('dp', 'noise', '--target-epsilon', '0.001', '--sample-rate', '0.01', '--steps', '10', '--delta', '1e-5')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: target epsilon 0\.001 is unreachable/),
    })
  })
})

describe('weft dp with bad options', () => {
  const base = ['dp', 'epsilon', '--noise-multiplier', '1', '--sample-rate', '0.01', '--steps', '100', '--delta', '1e-5']
  const withOption = (name: string, value: string) => {
    const args = [...base]
    args[args.indexOf(name) + 1] = value
    return weft(...args)
  }

  it('names the bad option and exits 1', async () => {
    const cases = [
      ['--sample-rate', '0', /--sample-rate must be a number in \(0, 1\], got "0"/],
      ['--sample-rate', '1.5', /--sample-rate must be a number in \(0, 1\], got "1.5"/],
      ['--steps', '-5', /--steps must be an integer >= 0, got "-5"/],
      ['--delta', '1', /--delta must be a number in \(0, 1\), got "1"/],
      ['--noise-multiplier', 'abc', /--noise-multiplier must be a number in \(0, ∞\), got "abc"/],
    ] as const
    await Promise.all(
      cases.map(([name, value, message]) =>
        expect(withOption(name, value), `${name} ${value}`).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(message) }),
      ),
    )
  })
})
