// Whether the PyTorch engine's tests can run here, and on which device. CI installs Debian's python3-torch and must
// run them: there a missing torch fails the run; elsewhere the tests are skipped with the reason.
// WEFT_TORCH_TEST_DEVICE=cuda runs the same tests on a GPU (cpu by default).
import { probeTorch, type TorchDevice } from '@weft/runtime-torch'

const wanted = process.env['WEFT_TORCH_TEST_DEVICE'] ?? 'cpu'
if (wanted !== 'cpu' && wanted !== 'cuda') throw new Error(`WEFT_TORCH_TEST_DEVICE must be cpu or cuda, got ${JSON.stringify(wanted)}`)

/** The device the torch tests run on. */
export const torchTestDevice: Exclude<TorchDevice, 'auto'> = wanted

const probe = await probeTorch({ device: torchTestDevice })

if (!probe.ok && process.env['CI'] === 'true') throw new Error(`CI needs the torch engine: ${probe.reason}`)
if (!probe.ok) process.stderr.write(`skipping PyTorch engine tests: ${probe.reason}\n`)

/** True when a PyTorch worker starts here. */
export const torchAvailable: boolean = probe.ok
