// Whether the PyTorch engine's tests can run here, and on which device. CI installs Debian's python3-torch and must
// run them: there a missing torch fails the run; elsewhere the tests are skipped with the reason (test/requirements.ts).
// WEFT_TORCH_TEST_DEVICE=cuda runs the same tests on a GPU (cpu by default).
import { type TorchDevice, TorchProcess } from '@weft/runtime-torch'
import { afterAll, beforeAll } from 'vitest'
import { requirement } from '../../../test/requirements.js'

const wanted = process.env['WEFT_TORCH_TEST_DEVICE'] ?? 'cpu'
if (wanted !== 'cpu' && wanted !== 'cuda') throw new Error(`WEFT_TORCH_TEST_DEVICE must be cpu or cuda, got ${JSON.stringify(wanted)}`)

/** The device the torch tests run on. */
export const torchTestDevice: Exclude<TorchDevice, 'auto'> = wanted

const check = await requirement('torch', `the PyTorch engine tests (${torchTestDevice})`)

/** True when a PyTorch worker starts here. */
export const torchAvailable: boolean = check.available

/** A PyTorch worker for the tests of the calling describe block (the hostile-request ones): started before them, closed after. */
export function testWorker(): { readonly proc: TorchProcess } {
  const worker = {} as { proc: TorchProcess }
  beforeAll(async () => {
    worker.proc = new TorchProcess({ device: torchTestDevice, threads: 1 })
    await worker.proc.start()
  })
  afterAll(async () => {
    await worker.proc?.close()
  })
  return worker
}
