/** The shared protocol library: one definition of every encoding, hash, signature and message. */
export * from "./types.js";
export * from "./errors.js";
export * from "./merkle.js";
export * from "./tensor.js";
export * from "./eip712.js";
export * from "./messages.js";
export * from "./config.js";
export * from "./logger.js";
export * from "./contracts.js";
export * from "./fetch.js";
export * from "./random.js";
export * from "./commitment.js";
export * from "./trace.js";
export * from "./lifecycle.js";
export * from "./modelSafety.js";
export * from "./shapeBounds.js";
export * from "./netPolicy.js";
