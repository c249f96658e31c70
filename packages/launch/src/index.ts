// @weft/launch: start Weft nodes on a cluster manager (child processes, Slurm, Kubernetes) behind one interface.
export { type Launched, type LaunchRequest, type Launcher, LaunchError, type LaunchState, type LaunchStatus } from './launcher.js'
