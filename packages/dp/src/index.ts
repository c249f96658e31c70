// Public API of @weft/dp (browser-safe): RDP accounting for the sampled Gaussian mechanism, clipping and noise
// for DP federated averaging, and adaptive clipping. Hand-written list of exports.

/** Errors, one class per condition; match on `err.name`. */
export { DpStateError, NonFiniteUpdateError, RdpConvergenceError, UnreachableEpsilonError } from './errors.js'

/** RDP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019). */
export { DEFAULT_ORDERS, type GaussianRelease, rdpOfRelease, rdpSampledGaussian } from './rdp.js'

/** RDP → (ε, δ): classic (Mironov 2017) and tight (Canonne, Kamath & Steinke 2020). */
export { CONVERSIONS, type Conversion, epsilonFromRdp, type PrivacyGuarantee } from './conversion.js'

/** ε of composed releases, the noise for a target ε, and the serializable Accountant. */
export {
  Accountant,
  type AccountantInit,
  type AccountantState,
  computeEpsilon,
  type EpsilonOptions,
  type NoiseMultiplierQuery,
  noiseMultiplierFor,
} from './accountant.js'

/** Randomness: secure by default, seeded only for tests. */
export {
  type GaussianSource,
  gaussianSource,
  type NoiseComponents,
  secureUniformSource,
  seededUniformSourceUnsafe,
  type UniformSource,
} from './random.js'

/** Norms and clipping. */
export { type ClipResult, clipToNorm, l2Norm } from './clipping.js'

/** The Gaussian mechanism for federated averaging: server-side clipping, client-side clipping, local DP. */
export {
  addCentralNoise,
  type ClippedUpdate,
  clipUpdate,
  type DpMean,
  type DpMeanParams,
  dpMeanOfClippedSum,
  fixedDenominatorMean,
  type GaussianNoiseParams,
  localDpUpdate,
  type ServerSideDpMeanParams,
  serverSideDpMean,
  sumUpdates,
} from './mechanisms.js'

/** Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021). */
export {
  type AdaptiveClippingState,
  adaptiveClipping,
  adaptiveUpdateNoiseMultiplier,
  type ClipCount,
  type ClipNormUpdate,
  parseAdaptiveClippingState,
  updateClipNorm,
} from './adaptive-clipping.js'
