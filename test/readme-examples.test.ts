// The README's configuration and job examples parse as documented (they are the user's first contact).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseJobSpec } from '@weft/fl'
import { parseJobSpec as parseFabricJobSpec } from '@weft/jobs'
import { parseNodeConfig } from '@weft/node'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')

/** The YAML block whose first line is `# <name>`. */
function block(name: string): unknown {
  const m = new RegExp(`\`\`\`yaml\\n# ${name.replace('.', '\\.')}\\n([\\s\\S]*?)\`\`\``).exec(README)
  if (m === null) throw new Error(`README has no yaml block "# ${name}"`)
  return parseYaml(m[1] as string)
}

describe('README examples', () => {
  it('the client and coordinator node configs are valid', () => {
    const client = parseNodeConfig(block('client.yaml'))
    expect(client.datasets[0]?.partition).toMatchObject({ scheme: 'dirichlet', alpha: 0.5, part: 3 })
    const coordinator = parseNodeConfig(block('coordinator.yaml'))
    expect(coordinator.fl.participate).toBe(false)
  })

  it('the authority node config is valid: the public key as `weft mesh init` prints it (issue 15, deliverable 1)', () => {
    const config = parseNodeConfig(block('authority.yaml'))
    expect(config.authority).toEqual({ publicKey: 'ed25519:gyeCJJYrQj6uXdlJlmdwd9h6g7jIs-g-42Jy5cR3lh4', certificate: 'member.cert' })
    expect(() => parseNodeConfig({ dataDir: '/tmp/x', authority: { publicKey: '12D3KooWxyz' } })).toThrow(/authority\.publicKey: must be the authority key/)
  })

  it('the torch node config is valid: torch preferred, one thread per worker, two workers', () => {
    const config = parseNodeConfig(block('torch-node.yaml'))
    expect(config.runtime).toMatchObject({ engine: 'torch', torch: { device: 'auto', threads: 1 } })
    expect(config.fl.workers).toBe(2)
    expect(() => parseNodeConfig({ dataDir: '/tmp/x', runtime: { engine: 'onnx' } })).toThrow(/engine/)
  })

  it('the job spec is valid and means what the text says', () => {
    const job = parseJobSpec(block('job.yaml'))
    expect(job).toMatchObject({ dataset: 'fashion-mnist', rounds: 50, strategy: { name: 'fedavg' }, clients: { min: 8, minResults: 8 } })
    expect(job.evaluation.centralized?.dataset).toBe('fashion-mnist-test')
  })

  it('the private job spec combines secure aggregation with client-side DP, as the text says it may', () => {
    const job = parseJobSpec(block('private-job.yaml'))
    expect(job.privacy.secureAggregation).toMatchObject({ dropoutRate: 0.2, corruptRate: 0.1, clip: 1 })
    expect(job.privacy.dp).toMatchObject({ mode: 'client', targetEpsilon: 3, delta: 1e-5 })
    expect(() => parseJobSpec({ ...(block('private-job.yaml') as object), privacy: { ...job.privacy, dp: { ...job.privacy.dp, mode: 'central' } } })).toThrow(/central DP/)
  })

  it('the batch job is valid: 10 shards verified by a quorum of 2 on 3 slots spread over sites', () => {
    const job = parseFabricJobSpec(block('batch-job.yaml'))
    expect(job).toMatchObject({ kind: 'batch', replicas: 3, strategy: 'spread', resources: { cores: 0.5, memoryBytes: 256 * 2 ** 20 } })
    expect(job.constraints).toMatchObject({ tier: 'dc', spread: { key: 'site', maxPerValue: 1 } })
    expect(job.batch).toMatchObject({ task: 'stats', map: { kind: 'shards', count: 10 }, quorum: 2, adaptive: true })
  })
})
