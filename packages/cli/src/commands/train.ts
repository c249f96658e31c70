// `weft train`: centralized training of a model on a data set, with live progress (the work is in train-run.ts).
import { ARCHITECTURES } from '@weft/runtime'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { positiveInt } from './option-parsers.js'
import type { TrainCliOptions } from './train-run.js'

function nonNegative(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0, got "${v}"`)
    return n
  }
}

function integer(v: string): number {
  const n = Number(v)
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--seed must be an integer, got "${v}"`)
  return n
}

/** Registers `weft train`. */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a model centrally on a data set, reporting test accuracy after each epoch')
    .addOption(new Option('--model <name>', 'model architecture').choices([...ARCHITECTURES]).default('mlp'))
    .addOption(new Option('--dataset <name>', 'data set').choices(['fashion-mnist']).default('fashion-mnist'))
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST .gz files (default: search, then download)')
    .option('--epochs <n>', 'epochs', positiveInt('--epochs'), 1)
    .option('--batch-size <n>', 'mini-batch size', positiveInt('--batch-size'), 32)
    .addOption(new Option('--optimizer <kind>', 'optimizer').choices(['sgd', 'adam', 'adamw']).default('adam'))
    .option('--lr <rate>', 'learning rate (default 0.05 for sgd, 0.001 for adam/adamw)', nonNegative('--lr'))
    .option('--momentum <m>', 'sgd momentum', nonNegative('--momentum'), 0.9)
    .option('--weight-decay <wd>', 'weight decay (L2 for sgd/adam, decoupled for adamw)', nonNegative('--weight-decay'))
    .addOption(
      new Option('--runtime <engine>', 'engine: tfjs, torch (a PyTorch worker; needs Python with torch and numpy), auto (torch when available)')
        .choices(['tfjs', 'torch', 'auto'])
        .default('tfjs'),
    )
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['wasm', 'cpu']).default('wasm'))
    .addOption(new Option('--device <device>', 'torch device (auto: CUDA when available)').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--threads <n>', 'torch intra-op threads (0: every core)', (v) => (v === '0' ? 0 : positiveInt('--threads')(v)), 0)
    .option('--python <path>', 'Python interpreter with torch and numpy (default: $WEFT_TORCH_PYTHON, python3, /usr/bin/python3)')
    .option('--seed <n>', 'seed of initialization and batch order', integer, 0)
    .option('--limit <n>', 'train on the first N training examples only', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on the first N test examples only', positiveInt('--test-limit'))
    .option('--json', 'print one JSON object with the results on stdout')
    .option('--no-progress', 'no progress bar or per-epoch lines on stderr')
    .option('--out <file>', 'write the trained model as a Weft model artifact')
    .action(async (opts: TrainCliOptions) => {
      const { runTrain } = await import('./train-run.js')
      await runTrain(opts)
    })
}
