// Whether the PyTorch engine's tests can run here, and on which device. CI installs Debian's python3-torch and must
// run them: there a missing torch fails the run; elsewhere the tests are skipped with the reason (test/requirements.ts).
// WEFT_TORCH_TEST_DEVICE=cuda runs the same tests on a GPU (cpu by default).
import type { TorchDevice } from '@weft/runtime-torch'
import { requirement } from '../../../test/requirements.js'

const wanted = process.env['WEFT_TORCH_TEST_DEVICE'] ?? 'cpu'
if (wanted !== 'cpu' && wanted !== 'cuda') throw new Error(`WEFT_TORCH_TEST_DEVICE must be cpu or cuda, got ${JSON.stringify(wanted)}`)

/** The device the torch tests run on. */
export const torchTestDevice: Exclude<TorchDevice, 'auto'> = wanted

const check = await requirement('torch', `the PyTorch engine tests (${torchTestDevice})`)

/** True when a PyTorch worker starts here. */
export const torchAvailable: boolean = check.available
