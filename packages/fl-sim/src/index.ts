// Public API of @weft/fl-sim (hand-written list of exports): federated simulation over virtual clients in one process.
export { runSimulation, type SimulationInit, type SimulationResult, type SimulationUpdateBytes } from './run-simulation.js'
export { createSimulationPools, type SimulationPools, type SimulationPoolsInit } from './simulation-pools.js'
export {
  createSimulationTransport,
  type SimulationCoordinator,
  type SimulationSite,
  type SimulationTransportComponents,
  type SimulationTransportInit,
  type SiteRoundReport,
  type VirtualClient,
} from './simulation-transport.js'
