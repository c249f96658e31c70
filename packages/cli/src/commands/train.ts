// `weft train`: centralized training of a model on a data set (owned by the ML-runtime work).
import type { Command } from 'commander'

export function registerTrainCommand(program: Command): void {
  program.command('train').description('train a model centrally on a data set (not built yet)')
}
