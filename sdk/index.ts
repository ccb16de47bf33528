/**
 * The oracle's TypeScript client SDK (docs/guides/dapp-developer.md): OracleClient (fees, requests,
 * finality, outputs), input readers (.npy, JSON, PNG, baseline JPEG), model cards (image preprocessing, labels) and
 * typed errors with stable codes.
 */
export * from "./errors.js";
export * from "./inputs.js";
export { decodeJpeg } from "./jpeg.js";
export * from "./models.js";
export * from "./client.js";
export * from "./subscriptions.js";
export * from "./chained.js";
export * from "./redundancy.js";
export { Tier, RequestStatus, RefundReason } from "../protocol/types.js";
export { encodeTensor, decodeTensor, hashEncoded, hashTensor, type Tensor, type TensorSpec, type DType } from "../protocol/tensor.js";
export { encodeBundle, decodeBundle, hashBundle, hashBundleEncoded, type NamedTensorSpec } from "../protocol/bundle.js";
export { loadManifest, verifyManifest, type DeploymentManifest } from "../protocol/manifest.js";
