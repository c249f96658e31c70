// Serverless training as a node component: the swarms this node trains in (no coordinator), on its own data sets
// and its preferred engine, with specs and states in its block store.
import { readFile } from 'node:fs/promises'
import { type BpeTokenizer, decodeLmCheckpoint } from '@weft/lm'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import type { TransformerTrainingRuntime } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import type { NodeComponentFactory } from '../component.js'
import { startSwarmRole } from '../swarm/swarm-role.js'

type Engine = TransformerTrainingRuntime & { readonly name: string; readonly backend: string; dispose(): Promise<void> }

export const swarmComponent: NodeComponentFactory = (ctx) => {
  let engine: Promise<Engine> | undefined
  let tokenizer: Promise<BpeTokenizer> | undefined
  return {
  name: 'swarm',
  dependsOn: ['engines', 'mesh', 'membership', 'datasets', 'store', 'block-exchange', 'replication'],
  async start() {
    const engines = ctx.get('engines')
    const datasets = ctx.get('datasets')
    const metrics = ctx.metrics.swarm
    const role = await startSwarmRole({
      mesh: ctx.get('mesh'),
      store: ctx.find('store'),
      blockExchange: ctx.find('blockExchange'),
      replication: ctx.find('replication'),
      member: (peer) => ctx.get('membership').member(peer),
      datasets: ctx.config.datasets,
      loadDataset: (ds) => datasets.load(ds),
      pool: () => ({ pool: engines.pool(), engine: engines.preferred }),
      transformerRuntime: () => {
        if (engine === undefined) {
          const t = ctx.config.runtime.torch
          engine =
            engines.preferred === 'torch'
              ? torchRuntime({ device: t.device, threads: t.threads, ...(t.python === undefined ? {} : { python: t.python }) })
              : tfjsRuntime({ backend: 'wasm' }, { log: (m) => ctx.logger.warn(m) })
          engine.catch(() => {
            engine = undefined
          })
        }
        return engine
      },
      tokenizer: () => {
        tokenizer ??= readFile(KJV_LM_PATH).then((bytes) => decodeLmCheckpoint(new Uint8Array(bytes)).tokenizer)
        return tokenizer
      },
      logger: ctx.logger,
      now: ctx.now,
      onEvent: (_swarm, event) => {
        if (event.type === 'step') {
          const r = event.record
          metrics.outerSteps.inc()
          metrics.samples.inc(r.samples)
          metrics.bytesSent.inc(r.bytesSent)
          metrics.bytesReceived.inc(r.bytesReceived)
          metrics.trainSeconds.inc(r.trainSeconds)
          metrics.averageSeconds.observe(r.averageSeconds)
          metrics.failedParts.inc(r.failedParts)
          if (Number.isFinite(r.consensusDistance)) metrics.consensusDistance.set(r.consensusDistance)
          if (Number.isFinite(r.loss)) metrics.loss.set(r.loss)
          if (Number.isFinite(r.accuracy)) metrics.accuracy.set(r.accuracy)
        } else if (event.type === 'offence') metrics.offences.inc()
      },
    })
    ctx.provide('swarms', role)
  },
  async stop() {
    const role = ctx.find('swarms')
    ctx.withdraw('swarms')
    await role?.stop()
    await (await engine?.catch(() => undefined))?.dispose()
  },
  }
}
