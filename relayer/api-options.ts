/** What the relayer's HTTP API (api.ts) is built from and its limits on blob uploads. */
import type express from "express";
import type { Logger } from "../protocol/index.js";
import type { JobQueue } from "../queue/index.js";
import type { BlobStore } from "./blobs.js";
import type { OracleChain } from "./chain.js";
import type { RelayerDb } from "./db.js";
import type { RateLimitOptions } from "./rate-limit.js";
import type { EventWatcher } from "./watcher.js";

export interface ApiDeps {
  db: RelayerDb;
  blobs: BlobStore;
  chain: OracleChain;
  queue: JobQueue;
  watcher: EventWatcher;
  log: Logger;
  maxBlobBytes: number;
  publicUrl: () => string;
  /** Largest body on routes other than blob uploads (default 64 KiB). */
  maxBodyBytes?: number;
  /** Per-client token bucket (default: no limit). */
  rateLimit?: RateLimitOptions;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Reverse proxies whose X-Forwarded-For names the client (relayer/limits.ts clientAddress). */
  trustProxy?: readonly string[];
  /** Byte quotas on anonymous blob uploads (default: none). */
  blobQuota?: BlobQuotaOptions;
  /** Signed requests (protocol/blobAuth.ts): who counts as a known party, and its own limits. */
  blobAuth?: BlobAuthOptions;
  /** Streaming limits of blob uploads (defaults: DEFAULT_UPLOAD_LIMITS). */
  uploadLimits?: Partial<UploadLimits>;
  /** Mounts more routes before the 404 handler (the dashboard and metrics). */
  extend?: (app: express.Express) => void;
}

export interface BlobQuotaOptions {
  /** Bytes one client (relayer/quota.ts clientKey: loopback is one client, IPv6 counts per /64) may upload per window. */
  perClientBytes: number;
  /** The rolling window of `perClientBytes`. */
  windowMs: number;
  /** Anonymous uploads are refused while the store holds this many bytes (referenced ones never are). */
  maxStoredBytes: number;
  /** Client addresses whose uploads are referenced (the workers': outputs and traces): no budget, full retention. */
  allowlist?: readonly string[];
  /** Most clients tracked by the budget. */
  maxClients?: number;
}

export interface BlobAuthOptions {
  /** What a verified signer is (e.g. "worker", "challenger"), or undefined when it is no known party. */
  identify(address: string): Promise<string | undefined>;
  /** Requests per second and burst per identity (its own token bucket instead of its address's). */
  rateLimit: { perSecond: number; burst: number };
  /** Bytes one identity may upload per window (429 with Retry-After beyond). */
  bytesPerIdentity: number;
  windowMs: number;
  /** Refuse uploads that are neither signed by a known party nor an on-chain request's input (401). */
  required: boolean;
}

export interface UploadLimits {
  /** Anonymous uploads in progress at once, all clients together; more get 429. */
  maxConcurrent: number;
  /** Anonymous uploads in progress at once per client (quota.ts clientKey); more get 429. */
  maxConcurrentPerClient: number;
  /** An upload slower than this over a `rateWindowMs` window is cut off (408, partial file removed). */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxConcurrent: 32, maxConcurrentPerClient: 4, minBytesPerSecond: 32 * 1024, rateWindowMs: 10_000 };
