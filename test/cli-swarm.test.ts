// `weft swarm simulate` as a user runs it: a small swarm spec over virtual peers on real Fashion-MNIST, and a bad
// spec refused in one line that names the field.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { requirement } from './requirements.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const weft = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-swarm-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const fashionMnist = await requirement('fashion-mnist', 'weft swarm simulate on real Fashion-MNIST')

describe.skipIf(!fashionMnist.available)(`weft swarm simulate on real Fashion-MNIST${fashionMnist.note}`, () => {
  it('trains a small swarm and prints its result as JSON', async () => {
    // 3 peers × 10 inner steps of 32 per outer step, 4 outer steps; groups of 2 (one group of 2 and one peer alone
    // or a group of 3, as the matching falls), evaluated on the test split after the 2nd and 4th outer steps.
    const spec = file(
      'small.yaml',
      [
        'name: cli-test',
        'model: { architecture: logreg, inputShape: [28, 28, 1], numClasses: 10 }',
        'dataset: fashion-mnist',
        'targetSamples: 960',
        'totalSamples: 100000',
        'averaging: { groupSize: 2 }',
        'evaluation: { dataset: test, every: 2 }',
        '',
      ].join('\n'),
    )
    const { stdout, stderr } = await weft('swarm', 'simulate', spec, '--peers', '3', '--partition', 'iid', '--samples', '3840', '--workers', '2', '--json')
    const out = JSON.parse(stdout) as {
      name: string
      peers: number
      outerSteps: number
      seconds: number
      bytes: number
      results: { id: string; accuracy: number; outerSteps: number; killed: boolean }[]
      history: { step: number; innerSteps: number; loss: number; accuracy: number | null; consensusDistance: number; groupSize: number }[]
    }
    expect(out).toMatchObject({ name: 'cli-test', peers: 3, outerSteps: 4, totalSamples: 3840, partition: { scheme: 'iid' } })
    expect(out.results).toHaveLength(3)
    for (const p of out.results) {
      expect(typeof p.accuracy).toBe('number')
      expect(p.accuracy).toBeGreaterThanOrEqual(0)
      expect(p.accuracy).toBeLessThanOrEqual(1)
      expect(p).toMatchObject({ outerSteps: 4, killed: false })
    }
    expect(out.history.map((h) => h.step)).toEqual([0, 1, 2, 3])
    for (const h of out.history) {
      expect(h.innerSteps).toBeGreaterThan(0)
      expect(Number.isFinite(h.loss)).toBe(true)
      expect(h.groupSize).toBeGreaterThanOrEqual(1)
    }
    expect(out.bytes).toBeGreaterThan(0)
    expect(out.seconds).toBeGreaterThan(0)
    // One line per outer step of the first peer on stderr, the accuracy where it evaluated.
    const lines = stderr.split('\n').filter((l) => /^step /.test(l))
    expect(lines).toHaveLength(4)
    expect(lines[1]).toMatch(/accuracy \d+\.\d+%/)
  }, 60_000)
})

describe('weft swarm simulate refuses a bad spec', () => {
  it('names the bad field in one line and exits 1', async () => {
    const spec = file('bad.yaml', 'model: { architecture: logreg, inputShape: [28, 28, 1], numClasses: 10 }\ntargetSamples: 0\ntotalSamples: 1000\noutr: { kind: diloco }\n')
    const err = await weft('swarm', 'simulate', spec, '--json').catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 1, stdout: '' })
    const stderr = (err as { stderr: string }).stderr
    expect(stderr).toMatch(/^weft: invalid swarm spec: /)
    expect(stderr).toMatch(/\btargetSamples: /)
    expect(stderr).toMatch(/outr/)
    expect(stderr.trimEnd().split('\n')).toHaveLength(1)
  })
})
