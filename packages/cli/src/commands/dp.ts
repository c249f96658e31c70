// `weft dp …`: differential-privacy planning: the ε a DP training run spends, and the noise a target ε needs.
import { type Conversion, CONVERSIONS, computeEpsilon, noiseMultiplierFor } from '@weft/dp'
import { type Command, InvalidArgumentError, Option } from 'commander'

/** The options both subcommands share: the sampling, the length of training, δ and the conversion. */
interface RunOptions {
  sampleRate: number
  steps: number
  delta: number
  conversion: Conversion
  json?: true
}

interface EpsilonOptions extends RunOptions {
  noiseMultiplier: number
}

interface NoiseOptions extends RunOptions {
  targetEpsilon: number
}

/** A parser for a finite number in an interval, whose error names the option and the interval. */
function numberIn(name: string, interval: string, inside: (n: number) => boolean): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || !inside(n)) throw new InvalidArgumentError(`${name} must be a number in ${interval}, got "${v}"`)
    return n
  }
}

function integerFrom(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`)
    return n
  }
}

const positive = (name: string) => numberIn(name, '(0, ∞)', (n) => n > 0)

/** Four significant digits: enough for planning, without float noise in the text output. */
function round4(x: number): number {
  return Number(x.toPrecision(4))
}

function runEpsilon(o: EpsilonOptions): void {
  const release = { sampleRate: o.sampleRate, noiseMultiplier: o.noiseMultiplier, steps: o.steps }
  const { epsilon, order } = computeEpsilon(release, o.delta, { conversion: o.conversion })
  if (o.json) {
    const out = { epsilon, delta: o.delta, order, noiseMultiplier: o.noiseMultiplier, sampleRate: o.sampleRate, steps: o.steps, conversion: o.conversion }
    process.stdout.write(`${JSON.stringify(out)}\n`)
    return
  }
  process.stdout.write(
    `epsilon ${round4(epsilon)} at delta ${o.delta} (${o.conversion} conversion, optimal RDP order ${order})\n` +
      `for noise multiplier ${o.noiseMultiplier}, sample rate ${round4(o.sampleRate)}, ${o.steps} steps\n`,
  )
}

function runNoise(o: NoiseOptions): void {
  const query = { targetEpsilon: o.targetEpsilon, sampleRate: o.sampleRate, steps: o.steps, delta: o.delta, conversion: o.conversion }
  const noiseMultiplier = noiseMultiplierFor(query)
  const { epsilon, order } = computeEpsilon({ sampleRate: o.sampleRate, noiseMultiplier, steps: o.steps }, o.delta, { conversion: o.conversion })
  if (o.json) {
    const out = { noiseMultiplier, epsilon, ...query, order }
    process.stdout.write(`${JSON.stringify(out)}\n`)
    return
  }
  process.stdout.write(
    `noise multiplier ${round4(noiseMultiplier)} gives epsilon ${round4(epsilon)} <= ${o.targetEpsilon} at delta ${o.delta}\n` +
      `(${o.conversion} conversion, optimal RDP order ${order}) for sample rate ${round4(o.sampleRate)}, ${o.steps} steps\n`,
  )
}

function runOptions(cmd: Command, minSteps: number): Command {
  return cmd
    .requiredOption('--sample-rate <q>', 'probability that a record (or client) is in each step, in (0, 1]', numberIn('--sample-rate', '(0, 1]', (n) => n > 0 && n <= 1))
    .requiredOption('--steps <t>', 'number of steps (rounds) of training', integerFrom('--steps', minSteps))
    .requiredOption('--delta <d>', 'the delta of (epsilon, delta)-DP, in (0, 1); typically below 1/N', numberIn('--delta', '(0, 1)', (n) => n > 0 && n < 1))
    .addOption(new Option('--conversion <name>', 'RDP to (epsilon, delta) conversion').choices(CONVERSIONS).default('classic'))
    .option('--json', 'print one JSON object on stdout')
}

/** Registers `weft dp epsilon` and `weft dp noise`. */
export function registerDpCommands(program: Command): void {
  const dp = program
    .command('dp')
    .description('differential-privacy planning for DP-SGD / DP-FedAvg (RDP accountant for the sampled Gaussian mechanism)')
  const epsilon = dp
    .command('epsilon')
    .description('the epsilon spent by a run with this noise multiplier, sampling rate and number of steps')
    .requiredOption('--noise-multiplier <z>', 'noise standard deviation divided by the clip norm', positive('--noise-multiplier'))
  runOptions(epsilon, 0).action((o: EpsilonOptions) => runEpsilon(o))
  const noise = dp
    .command('noise')
    .description('the smallest noise multiplier that keeps a run within a target epsilon')
    .requiredOption('--target-epsilon <e>', 'the epsilon the whole run may spend', positive('--target-epsilon'))
  runOptions(noise, 1).action((o: NoiseOptions) => runNoise(o))
}
