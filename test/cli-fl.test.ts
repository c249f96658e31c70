// `weft fl` and `weft model` as a user runs them, where no node is needed: job specs are validated locally,
// and a missing node is reported in one clear line.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const weft = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-fl-'))
// A data directory where no node runs: anything that reached for a node would fail with "no node is running".
const noNode = join(dir, 'no-node')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const GOOD_MODEL = 'model: { architecture: mlp, inputShape: [28, 28, 1], numClasses: 10 }\n'

describe('weft fl submit validates the job spec before contacting any node', () => {
  it('names the bad field of a malformed spec and exits 1', async () => {
    const spec = file('bad-rounds.yaml', `${GOOD_MODEL}dataset: fashion-mnist\nrounds: 0\ntrain: { batchSize: 32, optimizr: { kind: sgd, lr: 0.1 } }\n`)
    const err = await weft('fl', 'submit', spec, '--data-dir', noNode).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 1, stdout: '' })
    const stderr = (err as { stderr: string }).stderr
    expect(stderr).toMatch(/^weft: invalid job spec: /)
    expect(stderr).toMatch(/\brounds: /)
    expect(stderr).toMatch(/\btrain: .*optimizr/)
    // One line, no stack trace, and no attempt to reach a node.
    expect(stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(stderr).not.toMatch(/no node is running/)
  })

  it('names a bad nested model field and a missing required field', async () => {
    const spec = file('bad-model.json', JSON.stringify({ model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 1 }, rounds: 5 }))
    await expect(weft('fl', 'submit', spec, '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: invalid job spec: .*model: spec\.numClasses must be an integer ≥ 2.*dataset: /),
    })
  })

  it('says in one line when the file is missing or not YAML', async () => {
    await expect(weft('fl', 'submit', join(dir, 'nope.yaml'), '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: cannot read job spec .*nope\.yaml: no such file\n$/),
    })
    const broken = file('broken.yaml', 'model: { architecture: mlp\nrounds: [1, 2\n')
    await expect(weft('fl', 'submit', broken, '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: job spec .*broken\.yaml is not valid YAML\/JSON: [^\n]+\n$/),
    })
  })

  it('a valid spec gets past validation and then needs a running node', async () => {
    const spec = file('good.yaml', `${GOOD_MODEL}dataset: fashion-mnist\nrounds: 3\n`)
    await expect(weft('fl', 'submit', spec, '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: no node is running on .*no-node \(start one with: weft node start --data-dir /),
    })
  })
})

describe('weft fl and weft model without a node', () => {
  it('weft fl status says no node is running on the data directory', async () => {
    await expect(weft('fl', 'status', 'fl-abc', '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: no node is running on .*no-node \(start one with: weft node start --data-dir .*\)\n$/),
    })
  })

  it('weft fl status --api names the address it could not reach', async () => {
    await expect(weft('fl', 'status', 'fl-abc', '--api', 'http://127.0.0.1:9')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: cannot reach the node API at http:\/\/127\.0\.0\.1:9: /),
    })
  })

  it('weft model export checks --round before asking the node', async () => {
    await expect(weft('model', 'export', 'fl-abc', '--round', 'first', '--out', join(dir, 'm.weft'), '--data-dir', noNode)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--round must be 'last' or a round number, got "first"/),
    })
  })
})
