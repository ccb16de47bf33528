/**
 * The challenger service's configuration (challenger/main.ts): a JSON file overlaid with
 * CHALLENGER_* environment variables (CHALLENGER_RPC_URL, CHALLENGER_PRIVATE_KEY, ...; nested
 * objects as JSON), validated once at start-up with every problem listed together.
 */
import { z } from "zod";
import { envOverrides, loadConfig, redactConfig, type RetiredKeys, AddressSchema, PrivateKeySchema } from "../protocol/index.js";

export const CHALLENGER_ENV_PREFIX = "CHALLENGER";
const SECRET_KEYS = ["privateKey"] as const;

/** Settings of the v1 audit of published traces (removed with the result format v2: results sign no trace). */
export const CHALLENGER_RETIRED_KEYS: RetiredKeys = {
  "policy.fraction": "the v1 sampled trace check; the share of FraudGame results re-run canonically is canonicalFraction",
  "policy.rerun": "the v1 onnxruntime re-run; every audit re-runs the model canonically",
  "policy.seed": "the v1 element sampling; canonicalFraction's choice is keyed by the challenger's key",
};

const wei = z
  .union([z.bigint().nonnegative(), z.number().int().nonnegative(), z.string().regex(/^[0-9]+$/, "expected a decimal amount of wei")])
  .transform((v) => BigInt(v));

export const ChallengerModelSchema = z.object({
  path: z.string().min(1).describe("local path of the ONNX file (its sha256 must be the registered modelHash)"),
  inputShape: z.array(z.coerce.number().int().positive()).min(1).describe("the reference input shape the commitment is computed for (the registered input shape)"),
});

export const ChallengerConfigSchema = z.object({
  rpcUrl: z.string().url().describe("JSON-RPC endpoint of the chain the oracle is on"),
  privateKey: PrivateKeySchema.describe("the challenger's key: pays challenge bonds and gas, receives rewards (secret: redacted in logs)"),
  oracle: AddressSchema.describe("InferenceOracle address"),
  blobStoreUrl: z.string().url().describe("blob store the requests' inputs and signed outputs are read from (the relayer's GET /blobs/:hash)"),
  models: z.array(ChallengerModelSchema).min(1).describe("models to audit: each ONNX file is lowered to its canonical program and re-run on the results of FraudGame-resolved requests"),
  policy: z
    .object({
      maxBondAtRisk: wei.default(10n ** 18n).describe("the most wei of challenge bonds in open disputes at once"),
    })
    .prefault({})
    .describe("audit policy (CHALLENGER_POLICY as JSON)"),
  fetch: z
    .object({
      attempts: z.coerce.number().int().min(1).max(20).default(5).describe("tries per blob on a 429, 5xx, timeout or reset before the audit is deferred"),
      backoffMs: z.coerce.number().int().min(1).max(60_000).default(250).describe("first wait between tries of one blob (doubles, at most 2 s)"),
      retryBaseMs: z.coerce.number().int().min(1).default(15_000).describe("first wait before a deferred audit is re-run (doubles per deferral)"),
      retryMaxMs: z.coerce.number().int().min(1).default(300_000).describe("longest wait between re-runs of a deferred audit (all within the challenge window)"),
      maxAuditBytes: z.coerce.number().int().min(1).default(1 << 30).describe("the most bytes one audit downloads in all (each row is also capped at its committed dtype x shape)"),
      timeoutMs: z.coerce.number().int().min(100).default(30_000).describe("time limit of one blob download"),
    })
    .prefault({})
    .describe("blob store downloads (CHALLENGER_FETCH as JSON): a 429, 5xx or timeout defers the audit, never skips it"),
  concurrency: z.coerce.number().int().min(1).max(64).default(4).describe("audits run at once, the nearest challenge deadline first"),
  statePath: z.string().min(1).optional().describe("JSON file the block cursor and pending audits are saved to (a restart resumes from it)"),
  maxAuditStarts: z.coerce.number().int().min(1).default(2).describe("an audit started this often without finishing (a crash or hang) is not started again"),
  pollIntervalMs: z.coerce.number().int().min(10).max(3_600_000).default(5_000).describe("how often the chain is polled for new results"),
  startBlock: z.coerce.number().int().nonnegative().default(0).describe("the first block audited"),
  withdrawEveryPolls: z.coerce.number().int().min(1).default(12).describe("withdraw won bonds every n polls (and on shutdown)"),
  fraudGames: z
    .preprocess((v) => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter((x) => x !== "") : v), z.array(AddressSchema))
    .default([])
    .describe("restricts the FraudGame deployments played to these (CHALLENGER_FRAUD_GAMES, comma-separated); empty (the default): every FraudGame of the oracle is played, found on-chain from each result's resolver"),
  canonicalFraction: z.coerce.number().gt(0).max(1).default(1).describe("share of FraudGame results re-run canonically (a seeded, unpredictable choice keyed by the challenger's key)"),
});

export type ChallengerConfigInput = z.input<typeof ChallengerConfigSchema>;
export type ChallengerConfig = z.output<typeof ChallengerConfigSchema>;

export function loadChallengerConfig(input: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): ChallengerConfig {
  return loadConfig(ChallengerConfigSchema, { ...input, ...envOverrides(CHALLENGER_ENV_PREFIX, env) }, CHALLENGER_RETIRED_KEYS);
}

/** The config as it may be logged: the key replaced, bigints as strings. */
export function redactChallengerConfig(config: ChallengerConfig): Record<string, unknown> {
  const copy = redactConfig(config as unknown as Record<string, unknown>, SECRET_KEYS);
  copy.policy = { ...config.policy, maxBondAtRisk: config.policy.maxBondAtRisk.toString() };
  return copy;
}
