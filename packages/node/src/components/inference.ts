// Decentralized inference as a node component: the span server for what this node is asked to serve and the
// completions its API answers. Its engines start on first use: a node that serves nothing loads no model.
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import type { TransformerRuntime } from '@weft/runtime'
import type { NodeComponentFactory } from '../component.js'
import { startInferenceRole } from '../inference/inference-role.js'

type Engine = TransformerRuntime & { readonly name: string; readonly backend: string; dispose(): Promise<void> }

export const inferenceComponent: NodeComponentFactory = (ctx) => {
  const engines = new Map<string, Promise<Engine>>()
  return {
    name: 'inference',
    dependsOn: ['mesh', 'membership', 'peers', 'store', 'block-exchange'],
    async start() {
      const engine = (name: 'tfjs' | 'torch'): Promise<Engine> => {
        let e = engines.get(name)
        if (e === undefined) {
          e = name === 'tfjs' ? tfjsRuntime({ backend: 'wasm' }, { log: (m) => ctx.logger.warn(m) }) : torchRuntime({ device: 'auto' })
          // A failed start is not kept: the next request tries again (and says why if it fails again).
          e.catch(() => engines.delete(name))
          engines.set(name, e)
        }
        return e
      }
      const store = ctx.find('store')
      const blockExchange = ctx.find('blockExchange')
      const role = await startInferenceRole({
        mesh: ctx.get('mesh'),
        member: (peer) => ctx.get('membership').member(peer),
        peers: ctx.get('peers'),
        announce: async () => ctx.find('ads')?.publish(),
        rebalanceMs: ctx.config.inference.rebalanceMs,
        logger: ctx.logger,
        engine,
        ...(store === undefined ? {} : { store }),
        ...(blockExchange === undefined ? {} : { blockExchange }),
      })
      ctx.provide('inference', role)
    },
    async stop() {
      const role = ctx.find('inference')
      ctx.withdraw('inference')
      await role?.stop()
      for (const e of engines.values()) await (await e.catch(() => undefined))?.dispose()
      engines.clear()
    },
  }
}
