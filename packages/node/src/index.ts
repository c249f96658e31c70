// Public API of @weft/node: the node daemon, its configuration and views (the API client is @weft/api-client).
export { ADS_DHT_NAMESPACE, ADS_TOPIC, GET_AD, startWeftNode } from './weft-node.js'
export type { NodeOffers, WeftNode, WeftNodeComponents } from './weft-node.js'
export type { RepairRound, Replication, ReplicationStatus } from './components/replication.js'
export type { ReplicationTarget } from './replication-plan.js'
export { defaultDataDir, expandPath, nodeConfigSchema, parseNodeConfig, readConfigFile } from './config.js'
export type { DatasetConfig, NodeConfig, NodeConfigInput } from './config.js'
export { type AdRejection, MAX_SIGNED_AD_BYTES, signAd, type VerifiedAd, verifyAd } from '@weft/mesh'
export { createPeerTable } from './peer-table.js'
export type { AcceptResult, PeerEntry, PeerStatus, PeerTable, PeerTableEvents, PeerTableInit } from './peer-table.js'
export { openNodeState } from './state.js'
export type { NodeState, StoredPeer } from './state.js'
export { createApiApp, isLoopbackHost, TOKEN_COOKIE } from './api.js'
export type { ApiAppOptions, ApiBackend } from './api.js'
export { FL_CANCEL, FL_EVALUATE, FL_INVITE, FL_MODEL, FL_STATUS, FL_SUBMIT, FL_TRAIN, FL_UPDATE } from '@weft/protocol'
export type { FlService, JobView, RoundView } from './fl/fl-service.js'
export { type FlStoreInit, openFlStore } from './fl/fl-store.js'
export { DATA_DIR_FILES, loadOrCreateIdentity, nodePeerId, readRunningNode } from './data-dir.js'
export type { RunningNodeRecord } from './data-dir.js'
export { createNodeMetrics } from './metrics.js'
export type { FlMetrics, NodeMetrics } from './metrics.js'
export { readHostResources } from './resources.js'
export { WEFT_VERSION } from './version.js'
export { adView, peerView } from './views.js'
export type {
  ActivityView,
  AdView,
  ConnectionView,
  FabricTotalsView,
  MeshEdgeView,
  MeshNodeView,
  MeshView,
  NodeView,
  PeerView,
  ResourcesView,
  StreamEvent,
  TelemetrySample,
  TelemetryView,
  TrafficView,
} from './views.js'
export { ConfigError, DataDirError, DatasetFetchError } from './errors.js'
export type { NodeMembership, RevokeResult } from './components/membership.js'
export { formatPsk, generatePsk } from './psk.js'
export { describeLocalDatasets, loadLocalDataset } from './local-datasets.js'
export { fetchFashionMnistFromMesh, MESH_DATASETS, type MeshDatasetName, type MeshDatasetResult, meshDatasetDir } from './mesh-datasets.js'
export { ComponentRunner, NodeContext, startOrder } from './component.js'
export type { NodeComponent, NodeComponentFactory, NodeServices } from './component.js'
export { defaultComponents } from './weft-node.js'
export { lockDataDir } from './data-dir.js'
export type { DataDirLock } from './data-dir.js'
export { type CanonicalResult, type ReplicaOutcome, type ReplicaRun, type ReplicaRunner, type ReplicatedBatch, type ReplicatedTask, runCanonicalTask, runReplicatedBatch, type StandaloneExecutor, standaloneExecutor, type StandaloneExecutorInit } from './jobs/standalone.js'
