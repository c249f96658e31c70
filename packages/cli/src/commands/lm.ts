// `weft lm train` and `weft lm generate`: a small decoder-only language model trained on a real corpus, and text
// generated from a checkpoint on this machine (the work is in lm-run.ts, loaded when a command runs).
import { type Command, InvalidArgumentError, Option } from 'commander'
import type { LmGenerateOptions, LmTrainOptions } from './lm-run.js'

const positiveInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v)
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`)
    return n
  }

const positive =
  (name: string) =>
  (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}"`)
    return n
  }

const nonNegative =
  (name: string) =>
  (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0, got "${v}"`)
    return n
  }

/** Registers `weft lm …`. */
export function registerLmCommands(program: Command): void {
  const lm = program.command('lm').description('language models: train a small decoder-only model on a corpus, generate text from a checkpoint')
  lm.command('train')
    .description('train a Llama-style language model (byte-level BPE tokenizer, validation perplexity, samples, checkpoints)')
    .option('--corpus <files...>', 'plain-text files, one example per line (default: the bundled King James Bible)')
    .option('--out <file>', 'checkpoint (safetensors: weights, config.json and tokenizer.json), written at each evaluation', 'lm.safetensors')
    .option('--tokenizer <file>', 'a tokenizer.json to use instead of training one')
    .option('--vocab <n>', 'tokenizer vocabulary size', positiveInt('--vocab'), 2048)
    .option('--layers <n>', 'transformer blocks', positiveInt('--layers'), 4)
    .option('--hidden <n>', 'hidden size', positiveInt('--hidden'), 128)
    .option('--heads <n>', 'attention heads', positiveInt('--heads'), 4)
    .option('--kv-heads <n>', 'key/value heads (grouped-query attention; default: --heads)', positiveInt('--kv-heads'))
    .option('--intermediate <n>', 'SwiGLU width (default: 3 × hidden)', positiveInt('--intermediate'))
    .option('--context <n>', 'training window (positions); the model takes up to 2 × this', positiveInt('--context'), 128)
    .option('--batch <n>', 'windows per step', positiveInt('--batch'), 16)
    .option('--steps <n>', 'optimizer steps', positiveInt('--steps'), 1000)
    .option('--minutes <m>', 'stop after this long (with a last evaluation and checkpoint)', positive('--minutes'))
    .option('--lr <rate>', 'peak learning rate (linear warm-up, cosine decay to a tenth)', positive('--lr'), 3e-3)
    .option('--warmup <n>', 'warm-up steps', positiveInt('--warmup'), 50)
    .option('--weight-decay <wd>', 'decoupled weight decay of matrices', nonNegative('--weight-decay'), 0.1)
    .option('--eval-every <n>', 'steps between evaluations, samples and checkpoints', positiveInt('--eval-every'), 100)
    .option('--validation <fraction>', 'share of the corpus held out', positive('--validation'), 0.02)
    .option('--prompt <text>', 'prompt of the samples printed at each evaluation', 'And God said')
    .addOption(new Option('--runtime <engine>', 'engine: tfjs (wasm), torch (a PyTorch worker), auto (torch when available)').choices(['tfjs', 'torch', 'auto']).default('auto'))
    .option('--threads <n>', 'torch intra-op threads (0: every core)', (v) => (v === '0' ? 0 : positiveInt('--threads')(v)), 0)
    .option('--seed <n>', 'seed of initialization, split and window order', positiveInt('--seed'), 1)
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--publish', "add the last checkpoint to a running node's block store, announced (prints its CID for weft serve)")
    .option('--data-dir <dir>', 'with --publish: data directory of the node (default ~/.weft or $WEFT_HOME)')
    .option('--api <url>', 'with --publish: the node API URL')
    .option('--token <token>', 'with --publish: API bearer token')
    .action(async (opts: LmTrainOptions) => {
      const { runLmTrain } = await import('./lm-run.js')
      await runLmTrain(opts)
    })
  lm.command('generate')
    .description('generate text from a checkpoint on this machine')
    .argument('<checkpoint>', 'a checkpoint written by `weft lm train` (or a safetensors file with that metadata)')
    .argument('<prompt>', 'the text to continue')
    .option('--max-tokens <n>', 'tokens to generate', positiveInt('--max-tokens'), 100)
    .option('--temperature <t>', '0: greedy', nonNegative('--temperature'), 0.8)
    .option('--top-p <p>', 'nucleus sampling mass', positive('--top-p'), 0.95)
    .option('--seed <n>', 'sampling seed', positiveInt('--seed'), 1)
    .addOption(new Option('--runtime <engine>', 'engine').choices(['tfjs', 'torch']).default('tfjs'))
    .option('--json', 'print one JSON object on stdout')
    .action(async (checkpoint: string, prompt: string, opts: Omit<LmGenerateOptions, 'checkpoint' | 'prompt'>) => {
      const { runLmGenerate } = await import('./lm-run.js')
      await runLmGenerate({ ...opts, checkpoint, prompt })
    })
}
