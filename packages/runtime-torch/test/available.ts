// Whether the PyTorch engine's tests can run here. CI installs Debian's python3-torch and must run them: there a
// missing torch fails the run; elsewhere the tests are skipped with the reason.
import { probeTorch } from '@weft/runtime-torch'

const probe = await probeTorch({ device: 'cpu' })

if (!probe.ok && process.env['CI'] === 'true') throw new Error(`CI needs the torch engine: ${probe.reason}`)
if (!probe.ok) process.stderr.write(`skipping PyTorch engine tests: ${probe.reason}\n`)

/** True when a PyTorch worker starts here. */
export const torchAvailable: boolean = probe.ok
