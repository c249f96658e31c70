// `weft lm train` and `weft lm generate` as a user runs them: a small model trained on a text file, its validation
// perplexity falling, a checkpoint written and published to a node's store, text generated from it; bad options.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { decodeLmCheckpoint } from '@weft/lm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode } from '../packages/node/test/helpers.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-lm-'))
let node: TestNode

beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node?.stop()
  removeTestDirs()
  rmSync(dir, { recursive: true, force: true })
})

describe('weft lm', () => {
  it('train: perplexity falls, the checkpoint holds config and tokenizer, --publish puts it in the store; generate continues a prompt', async () => {
    const corpus = join(dir, 'psalm.txt')
    writeFileSync(corpus, 'The LORD is my shepherd; I shall not want.\nHe maketh me to lie down in green pastures: he leadeth me beside the still waters.\n'.repeat(40))
    const out = join(dir, 'lm.safetensors')
    const args = ['lm', 'train', '--corpus', corpus, '--out', out, '--vocab', '300', '--layers', '2', '--hidden', '32', '--heads', '2', '--context', '16', '--batch', '4']
    const { stdout } = await run(process.execPath, [BIN, ...args, '--steps', '40', '--eval-every', '20', '--lr', '0.01', '--runtime', 'tfjs', '--validation', '0.1', '--json', '--no-progress', '--publish', '--api', node.apiUrl], { maxBuffer: 8 * 1024 * 1024 })
    const summary = JSON.parse(stdout)
    expect(summary.evaluations.map((e: { step: number }) => e.step)).toEqual([20, 40])
    expect(summary.evaluations[1].validationPerplexity).toBeLessThan(summary.evaluations[0].validationPerplexity)
    expect(summary.evaluations[1].validationPerplexity).toBeLessThan(300)
    expect(summary.samples).toHaveLength(2)
    expect(summary.checkpoint.cid).toMatch(/^baf/)
    const ckpt = decodeLmCheckpoint(readFileSync(out))
    expect(ckpt.config).toMatchObject({ numLayers: 2, hiddenSize: 32, numHeads: 2, maxPositions: 32, vocabSize: ckpt.tokenizer.vocabSize })
    expect(ckpt.info['trained.steps']).toBe('40')
    expect((await node.store?.stat(summary.checkpoint.cid as never))?.kind).toBe('file')
    const generated = JSON.parse((await run(process.execPath, [BIN, 'lm', 'generate', out, 'The LORD', '--max-tokens', '8', '--temperature', '0', '--json'])).stdout)
    expect(generated.tokens).toBe(8)
    expect(typeof generated.text).toBe('string')
  }, 180_000)

  it('refuses bad options with the reason', async () => {
    const fail = (args: string[]) => run(process.execPath, [BIN, 'lm', ...args]).then(
      () => '',
      (err: { stderr: string }) => err.stderr,
    )
    expect(await fail(['train', '--steps', '0'])).toMatch(/--steps must be a positive integer, got "0"/)
    expect(await fail(['train', '--runtime', 'gpu'])).toMatch(/--runtime.*gpu.*tfjs, torch, auto/s)
    expect(await fail(['generate', join(dir, 'missing.safetensors'), 'x'])).toMatch(/ENOENT/)
    writeFileSync(join(dir, 'not.safetensors'), 'hello')
    expect(await fail(['generate', join(dir, 'not.safetensors'), 'x'])).toMatch(/not a safetensors file/)
  })
})
