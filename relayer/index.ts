export { Relayer, RELAYER_LEASE_QUEUE, type RelayerDeps } from "./relayer.js";
export { RelayerConfigSchema, type RelayerConfig, type RelayerConfigInput } from "./config.js";
export { BlobStore } from "./blobs.js";
export { RelayerDb, type RequestRow, type RequestState } from "./db.js";
export type { TxRecord } from "./chain.js";
