import { z } from "zod";
import { AddressSchema } from "../protocol/index.js";

export const RelayerConfigSchema = z.object({
  dataDir: z.string().describe("Directory for the relayer's database and blob files; survives restarts.").default(".data/relayer"),
  confirmations: z.coerce.number().int().min(0).describe("Blocks an event must be buried under before it is acted on.").default(0),
  pollIntervalMs: z.coerce.number().int().min(10).describe("How often the chain is polled for new events and due work.").default(500),
  logBlockRange: z.coerce.number().int().min(1).describe("Most blocks asked for in one eth_getLogs call.").default(2000),
  startBlock: z.coerce.number().int().min(0).describe("First block to scan on a fresh database (the oracle's deployment block).").default(0),
  maxBatchSize: z.coerce.number().int().min(1).max(256).describe("Most results submitted in one transaction.").default(32),
  maxBatchWaitMs: z.coerce.number().int().min(0).describe("Longest a result waits for a batch to fill before it is submitted.").default(200),
  maxSettleBatch: z.coerce.number().int().min(1).max(256).describe("Most settlements or refunds in one transaction.").default(32),
  txRetries: z.coerce.number().int().min(0).describe("Retries of a transaction that failed for a transient reason.").default(3),
  resultsPrefetch: z.coerce.number().int().min(1).describe("Worker replies taken from the queue at once.").default(64),
  maxInlineOutputBytes: z.coerce.number().int().min(0).describe("Largest output sent inline for a request without a callback; a callback gets its request's maxInlineOutput (read on chain), longer outputs go as their size proof.").default(4096),
  reorgWindow: z.coerce.number().int().min(1).max(10_000).describe("Recent handled blocks whose hashes are kept to detect a reorg deeper than `confirmations`.").default(128),
  chained: z
    .array(AddressSchema)
    .describe("ChainedInference contracts (chained requests, docs/FEATURES.md) whose Ready chains this relayer advances, paying the gas of each advance.")
    .default([]),
  redundant: z
    .array(AddressSchema)
    .describe("RedundantInference contracts (redundancy, docs/FEATURES.md) whose answers this relayer attests (worker proofs), replaces from the reserve and delivers, paying the gas.")
    .default([]),
  leaderElection: z
    .union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")])
    .describe("Run as one of several relayers sharing the broker: only the holder of the broker lease (single active consumer) submits; the others follow the chain and take over when it goes (docs/OPERATIONS.md).")
    .default(false),
  fees: z
    .object({
      bumpAfterMs: z.coerce.number().int().min(10).describe("A transaction pending this long is replaced with higher fees.").default(30_000),
      maxBumps: z.coerce.number().int().min(0).describe("Most fee replacements of one transaction.").default(5),
      bumpPercent: z.coerce.number().min(10).max(1000).describe("Fee increase per replacement, in percent (nodes require at least 10).").default(12.5),
      maxFeePerGasGwei: z.coerce.number().positive().describe("Highest maxFeePerGas the relayer ever offers, in gwei.").default(500),
      pollMs: z.coerce.number().int().min(10).describe("How often a pending transaction is checked.").default(250),
    })
    .prefault({})
    .describe("Nonce and fee management of the relayer's own transactions (relayer/tx-manager.ts)."),
  subscriptions: z
    .object({
      address: z.string().optional().describe("InferenceSubscriptions contract whose due rounds this relayer triggers (docs/FEATURES.md, Subscriptions); none: no keeping."),
      keeper: z
        .preprocess((v) => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v), z.boolean())
        .describe("Trigger due subscription rounds (for their keeper reward) when `address` is set.")
        .default(true),
      minKeeperRewardWei: z.coerce.bigint().min(0n).describe("Rounds paying a smaller keeper reward (wei) are left to other keepers.").default(0n),
      maxPerTick: z.coerce.number().int().min(1).describe("Most subscriptions looked at per poll.").default(64),
      withdrawRewardsAboveWei: z.coerce.bigint().min(0n).describe("The keeper's rewards are withdrawn to the relayer's account once they reach this (wei).").default(10n ** 16n),
    })
    .prefault({}),
  api: z
    .object({
      host: z.string().describe("Address the HTTP API listens on.").default("127.0.0.1"),
      port: z.coerce.number().int().min(0).max(65535).describe("Port of the HTTP API (0: any free port).").default(8545 + 1000),
      maxBlobBytes: z.coerce.number().int().min(1).describe("Largest blob accepted by PUT/POST /blobs.").default(64 * 1024 * 1024),
      blobRetentionSeconds: z.coerce.number().int().min(60).describe("How long referenced blobs (an on-chain request's input, an allowlisted worker's outputs and traces) are kept.").default(7 * 24 * 3600),
      unreferencedBlobSeconds: z.coerce.number().int().min(60).describe("How long any other uploaded blob is kept (an input whose request appears on-chain before then is kept blobRetentionSeconds from its upload).").default(3600),
      blobUploadBytesPerClient: z.coerce.number().int().min(1).describe("Bytes one client may upload anonymously per blobUploadWindowSeconds (all of 127.0.0.0/8 and ::1 are one client; an IPv6 client counts per /64); more get 429 with Retry-After.").default(256 * 1024 * 1024),
      blobUploadWindowSeconds: z.coerce.number().int().min(1).describe("Rolling window of blobUploadBytesPerClient.").default(3600),
      maxStoredBlobBytes: z.coerce.number().int().min(1).describe("Anonymous uploads get 429 while the blob store holds this many bytes (referenced uploads are never refused by it).").default(8 * 1024 * 1024 * 1024),
      maxConcurrentUploads: z.coerce.number().int().min(1).describe("Anonymous blob uploads in progress at once, all clients together; more get 429 with Retry-After.").default(32),
      maxConcurrentUploadsPerClient: z.coerce.number().int().min(1).describe("Anonymous blob uploads in progress at once from one client (loopback one client, IPv6 per /64); more get 429.").default(4),
      minUploadBytesPerSecond: z.coerce.number().min(0).describe("A blob upload slower than this over any uploadRateWindowMs window is cut off (408) and its partial file removed; 0 disables.").default(32 * 1024),
      uploadRateWindowMs: z.coerce.number().int().min(100).describe("Window over which minUploadBytesPerSecond is measured (the first one starts with the request).").default(10_000),
      blobUploadAllowlist: z
        .array(z.string())
        .describe("Client addresses of the workers (as Node reports them, or as the trusted proxy's X-Forwarded-For names them): their uploads (outputs, traces) skip the byte budget and the global quota and are kept blobRetentionSeconds.")
        .default([]),
      blobIdentities: z
        .array(AddressSchema)
        .describe("Addresses (challengers', or other parties') whose signed requests (x-oracle-auth, protocol/blobAuth.ts) count as known identities; a registered worker's signer is known from the chain without being listed.")
        .default([]),
      requireBlobAuth: z
        .preprocess((v) => (v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : v), z.boolean())
        .describe("Refuse blob uploads (401) that are neither signed by a known identity nor an on-chain request's input. Off by default: requesters upload their inputs anonymously before they request.")
        .default(false),
      identityRateLimit: z
        .object({
          perSecond: z.coerce.number().min(0).describe("Requests per second a signed identity may make on average (0: no limit).").default(500),
          burst: z.coerce.number().int().min(1).describe("Its token bucket's size.").default(2000),
        })
        .prefault({})
        .describe("A known identity's own token bucket, in place of its address's: a flood from the same address or NAT does not starve it."),
      blobUploadBytesPerIdentity: z.coerce.number().int().min(1).describe("Bytes one signed identity may upload per blobUploadWindowSeconds (429 beyond).").default(16 * 1024 ** 3),
      publicUrl: z.string().optional().describe("Base URL workers and dApps use to reach this API (defaults to the listen address)."),
      maxBodyBytes: z.coerce
        .number()
        .int()
        .min(0)
        .describe("Largest body accepted on any route but the blob uploads (JSON or not); larger ones get 413 before they are read.")
        .default(64 * 1024),
      maxConnections: z.coerce.number().int().min(1).describe("Sockets open at once, all clients together.").default(1024),
      maxConnectionsPerAddress: z.coerce.number().int().min(1).describe("Sockets open at once from one client address (trusted proxies exempt); more are closed at once.").default(64),
      headersTimeoutMs: z.coerce.number().int().min(100).describe("A client must send its request headers within this long (slow loris).").default(10_000),
      requestTimeoutMs: z.coerce.number().int().min(100).describe("A whole request, body included, must arrive within this long.").default(120_000),
      keepAliveTimeoutMs: z.coerce.number().int().min(100).describe("An idle kept-alive socket is closed after this long.").default(5_000),
      maxEventStreams: z.coerce.number().int().min(0).describe("Open /api/events (server-sent events) streams, all clients together; more get 503.").default(256),
      maxEventStreamsPerAddress: z.coerce.number().int().min(0).describe("Open /api/events streams per client address; more get 429.").default(4),
      trustProxy: z
        .array(z.string())
        .describe("Addresses of reverse proxies in front of the API: from these, the client is the right-most X-Forwarded-For entry that is not a proxy (rate limits and stream caps count that client). Empty: the socket's peer is the client.")
        .default([]),
      rateLimit: z
        .object({
          perSecond: z.coerce.number().min(0).describe("Requests per second each client address may make on average (0: no limit).").default(200),
          burst: z.coerce.number().int().min(1).describe("Requests a client may make at once before the average applies (the token bucket's size).").default(400),
          exempt: z
            .array(z.string())
            .describe("Client addresses never limited (e.g. the workers' NAT address); as Node reports them (\"::ffff:10.0.0.7\" for IPv4 on a dual-stack socket).")
            .default([]),
          maxClients: z.coerce.number().int().min(1).describe("Most client addresses tracked at once; idle ones are forgotten first.").default(10_000),
        })
        .prefault({})
        .describe("Per-client token bucket: a client over its budget gets 429 RATE_LIMITED with Retry-After."),
    })
    .prefault({}),
});

export type RelayerConfig = z.infer<typeof RelayerConfigSchema>;
export type RelayerConfigInput = z.input<typeof RelayerConfigSchema>;
