// Chaos runs (issue 21): each scenario in test/chaos/scenarios/ against real node processes in network namespaces,
// faults on its seed's schedule, the merged history checked. The short form by default (CI); CHAOS_FORM=long for the
// long one (`npm run chaos`); CHAOS_SCENARIOS=a,b to pick. Each report is appended to test-results/chaos.jsonl.
import { appendFileSync, mkdirSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { requirement } from '../requirements.js'
import { destroyAllClusters } from './cluster.js'
import { runScenario } from './run.js'
import { jumpsClocks, loadScenario } from './scenario.js'

const netns = await requirement('netns', 'chaos runs in network namespaces')
const faketime = await requirement('faketime', 'chaos runs with clock jumps')
const here = dirname(fileURLToPath(import.meta.url))
const form = process.env['CHAOS_FORM'] === 'long' ? 'long' : 'short'
const picked = process.env['CHAOS_SCENARIOS']?.split(',')
const files = readdirSync(join(here, 'scenarios'))
  .filter((f) => f.endsWith('.yaml'))
  .filter((f) => picked === undefined || picked.includes(f.replace(/\.yaml$/, '')))
const results = join(here, '..', '..', 'test-results')

describe.skipIf(!netns.available)(`chaos (${form} form)${netns.note}`, () => {
  // A scenario that timed out is still running: its nodes and namespaces go with the file.
  afterAll(async () => {
    const standing = await destroyAllClusters()
    if (standing > 0) console.warn(`destroyed ${standing} chaos cluster(s) left by a timed-out scenario`)
  }, 120_000)
  for (const file of files) {
    const scenario = loadScenario(join(here, 'scenarios', file), form)
    // A scenario with no short form runs only in the long one.
    if (form === 'short' && scenario.short === undefined) continue
    const bound = (scenario.faults.durationSeconds + scenario.livenessSeconds + 120) * 1000
    const clocks = jumpsClocks(scenario)
    it.skipIf(clocks && !faketime.available)(`${scenario.name}: ${scenario.description}${clocks ? faketime.note : ''}`, { timeout: bound }, async () => {
      const report = await runScenario(scenario, (line) => console.info(`[${scenario.name}] ${line}`))
      mkdirSync(results, { recursive: true })
      appendFileSync(join(results, 'chaos.jsonl'), `${JSON.stringify({ form, at: new Date().toISOString(), ...report })}\n`)
      console.info(`[${scenario.name}] ${JSON.stringify({ faults: report.faults, operations: report.operations, acks: report.acks, seconds: report.seconds })}`)
      for (const c of report.checks) console.info(`[${scenario.name}] ${c.ok ? 'ok  ' : 'FAIL'} ${c.name} (${c.checked} checked)${c.violations.map((v) => `\n  ${v}`).join('')}`)
      expect(report.checks.flatMap((c) => c.violations)).toEqual([])
      // A run that checked nothing proves nothing: the workload must have run and the faults must have hit it.
      expect(Object.values(report.operations)[0]).toBeGreaterThan(0)
      expect(report.acks).toBeGreaterThan(0)
      expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
    })
  }
})
