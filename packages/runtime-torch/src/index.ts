// Public API of @weft/runtime-torch (Node only; hand-written list of exports).
export { FrameError, KvSessionBusyError, TorchTaskError, TorchUnavailableError, TorchWorkerClosedError, TorchWorkerCrashedError } from './errors.js'
export { decodeFrameBody, encodeFrame, type Frame, type FrameArray, type FrameDtype, FrameReader, MAX_FRAME_BYTES, MAX_HEADER_BYTES } from './frames.js'
export {
  defaultPythonCandidates,
  probeTorch,
  type TorchDevice,
  type TorchProbe,
  TorchProcess,
  type TorchProcessInit,
  TORCH_MALLOC_ENV,
  type TorchWorkerInfo,
  WORKER_SCRIPT,
} from './torch-process.js'
export { type TorchMatmulProbe, type TorchRuntime, type TorchRuntimeInit, torchRuntime } from './torch-runtime.js'
export { createTorchPool, type TorchPool, type TorchPoolInit } from './torch-pool.js'
export { WEIGHT_PIECE_VALUES } from './torch-transformer.js'
