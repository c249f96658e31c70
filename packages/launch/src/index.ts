// @weft/launch: start Weft nodes on a cluster manager (child processes, Slurm, Kubernetes) behind one interface.

export { generateSeedIdentity, type SeedIdentity, seedIdentityFromKey } from './kubernetes/identity.js'
export { jobStatus, KubernetesLauncher, type KubernetesLauncherComponents, type KubernetesLauncherInit, kubernetesJob, kubernetesLauncher } from './kubernetes/launcher.js'
export { type KubernetesManifestsInit, type KubernetesObject, kubernetesManifestDefaults, kubernetesManifests, toYaml } from './kubernetes/manifests.js'
export { LaunchError, type Launched, type Launcher, type LaunchRequest, type LaunchState, type LaunchStatus } from './launcher.js'
export { ProcessLauncher, type ProcessLauncherInit, processLauncher } from './process.js'
export {
  type CommandOptions,
  type CommandResult,
  type CommandRunner,
  execCommand,
  launchStateOf,
  parseSlurmRecord,
  type SbatchOptions,
  type SlurmJobInfo,
  SlurmLauncher,
  type SlurmLauncherInit,
  sbatch,
  shellQuote,
  slurmBatchScript,
  slurmJob,
  slurmLauncher,
  slurmTime,
  waitForJob,
} from './slurm.js'
