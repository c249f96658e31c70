// The inference workload (sessions under server kills): a small transformer, split in one-block spans served by the
// clients (client i serves block i mod layers, fetched by CID from the coordinator's store), and greedy completions
// asked of the coordinator (the entry node, which routes each through a server per span) one after another. The text
// one engine gives alone for the prompt is computed once, here: every completion must give exactly it or a clear
// error, and one asked after the faults must give it. A server killed and started again serves its span anew.
import { continueText } from '@weft/inference'
import { encodeLmCheckpoint, trainBpe } from '@weft/lm'
import { initTransformerWeights, parseTransformerConfig } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { at, retrying, sleep, type Workload, type WorkloadContext } from './context.js'

interface InferenceSpec {
  readonly layers: number
  readonly maxTokens: number
  readonly everySeconds: number
  readonly requestSeconds: number
}

const TEXT = 'In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. '
const PROMPT = 'And God said'

/** A random model (weights scaled so greedy decoding wanders over the vocabulary) and its greedy text for the prompt. */
async function makeModel(layers: number, maxTokens: number): Promise<{ checkpoint: Uint8Array; expected: string }> {
  const tokenizer = trainBpe(TEXT.repeat(20), { vocabSize: 320 })
  const config = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 32, intermediateSize: 96, numLayers: layers, numHeads: 4, numKvHeads: 2, maxPositions: 128, tieEmbeddings: true })
  const weights = initTransformerWeights(config, 5)
  for (const [name, t] of weights) if (!name.includes('norm')) for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) * 6
  const engine = await tfjsRuntime({ backend: 'wasm' })
  try {
    const span = await engine.loadTransformer(config, { embed: true, blocks: [0, layers], head: true }, weights)
    const out = await continueText(span, tokenizer, PROMPT, { maxTokens, temperature: 0, topP: 1, seed: 0 })
    return { checkpoint: encodeLmCheckpoint({ config, weights, tokenizer, info: {} }), expected: out.text }
  } finally {
    await engine.dispose()
  }
}

export function inferenceWorkload(spec: InferenceSpec): Workload {
  let ctx: WorkloadContext | undefined
  let model: string | undefined
  const blockOf = (name: string): [number, number] => {
    const i = (ctx?.clients.indexOf(name) ?? 0) % spec.layers
    return [i, i + 1]
  }
  const serve = async (c: WorkloadContext, name: string): Promise<void> => {
    if (model === undefined) return
    await c.cluster
      .api(name)
      .serveModel({ model, blocks: blockOf(name) })
      .then(() => c.log(`${at(c)}: ${name} serves block ${blockOf(name)[0]}`))
      .catch((err) => c.log(`${at(c)}: ${name} could not serve block ${blockOf(name)[0]}: ${(err as Error).message}`))
  }
  return {
    nodeConfig: (name) => (name === 'coordinator' ? { fl: { participate: false } } : {}),
    ready: () => true,
    async restarted(name) {
      if (ctx !== undefined && name !== 'coordinator') await serve(ctx, name)
    },
    async run(c, faultsDone) {
      ctx = c
      const { cluster, history, log } = c
      const { checkpoint, expected } = await makeModel(spec.layers, spec.maxTokens)
      // Faults may have begun: the coordinator may be down a moment.
      let failure: Error | undefined
      const added = await retrying(() => cluster.api('coordinator').storeAddFile(new Blob([checkpoint]), { name: 'chaos-lm.safetensors', announce: true }), 61, 1_000, (err) => {
        failure = err
      })
      if (added === undefined) throw failure
      model = added.cid
      await Promise.all(c.clients.map((name) => serve(c, name)))
      log(`${at(c)}: model ${model.slice(-8)} served in ${spec.layers} spans; expected text ${JSON.stringify(expected)}`)
      let asked = 0
      let answered = 0
      let recovered = false
      const bound = () => c.faultsOverAt + c.s.livenessSeconds * 1000
      // Completions while faults last; after them, until one gives the text (or the bound passes).
      while (!c.faultsOver() || (!recovered && Date.now() < bound())) {
        const after = history.now()
        const healed = c.faultsOver()
        const t = Date.now()
        asked++
        const result = await completeOnce(c, model, spec)
        const ms = Date.now() - t
        if (result.ok) answered++
        if (result.ok && result.text === expected && healed) recovered = true
        history.add({ at: history.now(), kind: 'completion', after, ...result, expected, ms })
        if (!result.ok) log(`${at(c)}: completion ${asked} failed after ${ms} ms: ${result.error}`)
        else if (result.text !== expected) log(`${at(c)}: completion ${asked} WRONG: ${JSON.stringify(result.text)}`)
        await sleep(spec.everySeconds * 1000)
      }
      await faultsDone
      return { completions: asked, answered, failed: asked - answered }
    },
  }
}

/** One greedy completion asked of the coordinator: its text, or its error (a hang past `requestSeconds` is one). */
async function completeOnce(c: WorkloadContext, model: string, spec: InferenceSpec): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  let text = ''
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${spec.requestSeconds} s`)), spec.requestSeconds * 1000)
  })
  try {
    await Promise.race([c.cluster.api('coordinator').complete({ model, prompt: PROMPT, max_tokens: spec.maxTokens, temperature: 0 }, (chunk) => (text += chunk)), hung])
    return { ok: true, text }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}
