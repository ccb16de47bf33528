/**
 * The deployment manifest (docs/FEATURES.md "Deterministic deployments"): `deployments/<chainId>.json`,
 * written by `oracle deploy` and read by the SDK (OracleClient.fromManifest) and the CLI (the deployment of the
 * connected chain when no deployment file is given). It names every contract the deployment placed through the
 * CREATE2 factory with its salt, init code hash and runtime code hash, the parameters its init code committed
 * to, the block the deployment started at and the git commit it was built from. `verifyManifest` checks the
 * code hashes against the chain.
 */
import { keccak256, type Provider } from "ethers";
import { OracleError } from "./errors.js";
import { isAddressHex, isBytes32 } from "./hex.js";

/** One contract the deployment placed. */
export interface ManifestContract {
  address: string;
  /** The salt it was placed under: keccak256(abi.encode(manifest.salt, name)). */
  salt: string;
  initCodeHash: string;
  /** keccak256 of the runtime code at `address` on this chain (immutables included: it can differ between chains). */
  codeHash: string;
}

export interface DeploymentManifest {
  version: 1;
  chainId: string;
  /** The CREATE2 factory (Arachnid's deterministic deployment proxy). */
  factory: string;
  /** The base salt every contract's salt is derived from. */
  salt: string;
  /** Who sent the deployment: the registry's first admin (its init code names it), until handed to `admin`. */
  deployer: string;
  /** The oracle's owner and the registry's admin once the deployment ends. */
  admin: string;
  registry: string;
  oracle: string;
  /** The default OPTIMISTIC resolver (the ArbiterResolver when one was named, else the FraudGame). */
  resolver?: string;
  fraudGame?: string;
  arbiter?: string;
  disputeWindow?: number;
  game?: { responseTime: number; moveClock: number; maxAttacks: number };
  /** The oracle's constructor params (amounts in wei, as decimal strings). */
  params: Record<string, string>;
  /** The block the first deployment started at (event scans start here). */
  blockNumber: number;
  gitCommit?: string;
  contracts: Record<string, ManifestContract>;
}

// Checked by hand, not with zod: the SDK package (packages/sdk) reads manifests and depends on ethers only
// (protocol/hex.ts has no dependencies).

function manifestProblems(raw: unknown): string[] {
  const problems: string[] = [];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return ["not a JSON object"];
  const m = raw as Record<string, unknown>;
  const want = (key: string, ok: (v: unknown) => boolean, what: string, optional = false) => {
    if (m[key] === undefined) {
      if (!optional) problems.push(`${key}: missing`);
    } else if (!ok(m[key])) problems.push(`${key}: expected ${what}`);
  };
  const isAddress = (v: unknown) => isAddressHex(v);
  const isInt = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  want("version", (v) => v === 1, "1");
  want("chainId", (v) => typeof v === "string" && /^[0-9]+$/.test(v), "a decimal string");
  for (const key of ["factory", "deployer", "admin", "registry", "oracle"]) want(key, isAddress, "an address");
  for (const key of ["resolver", "fraudGame", "arbiter"]) want(key, isAddress, "an address", true);
  want("salt", isBytes32, "32 bytes hex");
  want("disputeWindow", isInt, "an integer", true);
  want("game", (v) => typeof v === "object" && v !== null && ["responseTime", "moveClock", "maxAttacks"].every((k) => isInt((v as Record<string, unknown>)[k])), "{responseTime, moveClock, maxAttacks}", true);
  want("params", (v) => typeof v === "object" && v !== null && Object.values(v).every((x) => typeof x === "string"), "an object of strings");
  want("blockNumber", isInt, "an integer");
  want("gitCommit", (v) => typeof v === "string", "a string", true);
  want("contracts", (v) => typeof v === "object" && v !== null && !Array.isArray(v), "an object");
  for (const [name, c] of Object.entries((typeof m.contracts === "object" && m.contracts !== null ? m.contracts : {}) as Record<string, unknown>)) {
    const r = (typeof c === "object" && c !== null ? c : {}) as Record<string, unknown>;
    if (!isAddress(r.address)) problems.push(`contracts.${name}.address: expected an address`);
    for (const key of ["salt", "initCodeHash", "codeHash"]) if (!isBytes32(r[key])) problems.push(`contracts.${name}.${key}: expected 32 bytes hex`);
  }
  return problems;
}

/** The manifest's file name in a manifest folder. */
export function manifestFileName(chainId: bigint | string | number): string {
  return `${BigInt(chainId).toString()}.json`;
}

export function parseManifest(raw: unknown, where: string): DeploymentManifest {
  const problems = manifestProblems(raw);
  if (problems.length > 0) throw new OracleError("CONFIG_INVALID", `deployment manifest ${where} is invalid:\n  - ${problems.join("\n  - ")}`);
  return raw as DeploymentManifest;
}

/**
 * The manifest for `chainId` in `dir` (a folder of `<chainId>.json`; or a path ending in `.json`: that file), or
 * undefined when there is none. A file that exists but does not parse, or that names another chain, is an error
 * (CONFIG_INVALID).
 */
export async function loadManifest(dir: string, chainId: bigint | string | number): Promise<DeploymentManifest | undefined> {
  const { existsSync, readFileSync } = await import("node:fs");
  const { join, resolve } = await import("node:path");
  const file = resolve(dir.endsWith(".json") ? dir : join(dir, manifestFileName(chainId)));
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new OracleError("CONFIG_INVALID", `deployment manifest ${file} is not JSON: ${(error as Error).message}`);
  }
  const manifest = parseManifest(raw, file);
  if (manifest.chainId !== BigInt(chainId).toString()) throw new OracleError("CONFIG_INVALID", `deployment manifest ${file} is for chain ${manifest.chainId}, not ${chainId}`);
  return manifest;
}

export async function writeManifest(dir: string, manifest: DeploymentManifest): Promise<string> {
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const { join, resolve } = await import("node:path");
  const file = resolve(join(dir, manifestFileName(manifest.chainId)));
  mkdirSync(resolve(dir), { recursive: true });
  writeFileSync(file, `${JSON.stringify(parseManifest(manifest, file), null, 2)}\n`);
  return file;
}

export interface ManifestCheck {
  name: string;
  address: string;
  expected: string;
  /** keccak256 of the code at `address` now ("0x" hashed when there is none: then `deployed` is false). */
  actual: string;
  deployed: boolean;
  ok: boolean;
}

/** Every contract of the manifest, its recorded code hash against the chain's. The chain must be the manifest's (CONFIG_INVALID otherwise). */
export async function verifyManifest(provider: Provider, manifest: DeploymentManifest): Promise<ManifestCheck[]> {
  const chainId = (await provider.getNetwork()).chainId;
  if (chainId.toString() !== manifest.chainId) throw new OracleError("CONFIG_INVALID", `the manifest is for chain ${manifest.chainId}, the provider serves chain ${chainId}`);
  const checks: ManifestCheck[] = [];
  for (const [name, c] of Object.entries(manifest.contracts)) {
    const code = await provider.getCode(c.address);
    const actual = keccak256(code);
    checks.push({ name, address: c.address, expected: c.codeHash, actual, deployed: code !== "0x", ok: code !== "0x" && actual === c.codeHash.toLowerCase() });
  }
  return checks;
}

// ---------------------------------------------------------------- services find their deployment

/** Where the CLI and the services look for manifests when ORACLE_MANIFESTS is not set (relative to the working folder). */
export const DEFAULT_MANIFEST_DIR = "deployments";

/** The manifest folder: ORACLE_MANIFESTS, else `deployments/`. */
export function manifestDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ORACLE_MANIFESTS;
  return dir === undefined || dir === "" ? DEFAULT_MANIFEST_DIR : dir;
}

export interface FoundManifest {
  manifest: DeploymentManifest;
  /** The file it was read from (absolute). */
  file: string;
  chainId: bigint;
}

/** The manifest of chain `chainId` in `dir` (default manifestDir()), or undefined when there is none; a broken one throws CONFIG_INVALID. */
export async function findManifest(chainId: bigint | string | number, dir: string = manifestDir()): Promise<FoundManifest | undefined> {
  const { join, resolve } = await import("node:path");
  const manifest = await loadManifest(dir, chainId);
  if (manifest === undefined) return undefined;
  return { manifest, file: resolve(dir.endsWith(".json") ? dir : join(dir, manifestFileName(chainId))), chainId: BigInt(chainId) };
}

/** Like findManifest, but a missing manifest is CONFIG_INVALID naming the file looked for and what to do instead. */
export async function requireManifest(chainId: bigint | string | number, dir: string = manifestDir(), instead = "give the contract addresses"): Promise<FoundManifest> {
  const found = await findManifest(chainId, dir);
  if (found !== undefined) return found;
  const { join, resolve } = await import("node:path");
  const file = resolve(dir.endsWith(".json") ? dir : join(dir, manifestFileName(chainId)));
  throw new OracleError("CONFIG_INVALID", `no deployment manifest for chain ${BigInt(chainId)} (looked for ${file}): deploy with \`oracle deploy\`, point ORACLE_MANIFESTS at the folder holding it, or ${instead}`, {
    details: { chainId: BigInt(chainId).toString(), file },
  });
}

/**
 * The manifest of the chain an RPC endpoint serves: its chain id asked from the node (eth_chainId), then
 * requireManifest. A node that does not answer is CHAIN_UNAVAILABLE (retryable).
 */
export async function manifestForRpc(rpc: string | Provider, dir: string = manifestDir(), instead?: string): Promise<FoundManifest> {
  let chainId: bigint;
  if (typeof rpc === "string") {
    const { JsonRpcProvider } = await import("ethers");
    const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true, batchMaxCount: 1 });
    try {
      chainId = await chainIdOf(provider, rpc);
    } finally {
      provider.destroy();
    }
  } else {
    chainId = await chainIdOf(rpc, "the RPC endpoint");
  }
  return requireManifest(chainId, dir, instead);
}

async function chainIdOf(provider: Provider, where: string): Promise<bigint> {
  try {
    return (await provider.getNetwork()).chainId;
  } catch (cause) {
    throw new OracleError("CHAIN_UNAVAILABLE", `${where} does not answer, so its chain's deployment manifest cannot be found: ${(cause as Error).message}`, { cause, retryable: true });
  }
}

/** The feature contracts a manifest placed (by contract name): the services that serve each feature watch them. */
export function manifestFeatures(manifest: DeploymentManifest): { subscriptions?: string; chained?: string; redundant?: string } {
  const at = (name: string) => manifest.contracts[name]?.address;
  const out: { subscriptions?: string; chained?: string; redundant?: string } = {};
  const subscriptions = at("InferenceSubscriptions");
  const chained = at("ChainedInference");
  const redundant = at("RedundantInference");
  if (subscriptions !== undefined) out.subscriptions = subscriptions;
  if (chained !== undefined) out.chained = chained;
  if (redundant !== undefined) out.redundant = redundant;
  return out;
}

export type ManifestService = "relayer" | "worker" | "challenger";

/** The variable that names the oracle for each service: when it is set (or its config file names one), no manifest is read. */
export const SERVICE_ORACLE_VARIABLE: Record<ManifestService, string> = { relayer: "ORACLE_ADDRESS", worker: "WORKER_ALLOWED_ORACLES", challenger: "CHALLENGER_ORACLE" };

/**
 * The environment a service starts with, from a manifest: each variable the service reads for an address (and
 * its first block) that is not set already. The relayer also watches the manifest's feature contracts
 * (subscriptions, chained, redundancy) unless its variables name others. One mapping for the service entry
 * points (relayer/main.ts, worker/main.ts, challenger/main.ts) and `oracle <service> start`.
 */
export function manifestServiceEnv(service: ManifestService, found: FoundManifest, env: NodeJS.ProcessEnv, file: Record<string, unknown> = {}): Record<string, string> {
  const m = found.manifest;
  const out: Record<string, string> = {};
  // A variable already set, or a setting the service's config file gives (`fileKey`), is left alone.
  const fill = (name: string, value: string | undefined, fileKey?: string) => {
    if (value !== undefined && (env[name] === undefined || env[name] === "") && (fileKey === undefined || file[fileKey] === undefined)) out[name] = value;
  };
  const features = manifestFeatures(m);
  switch (service) {
    case "relayer":
      fill("ORACLE_ADDRESS", m.oracle);
      fill("CHAIN_ID", m.chainId);
      fill("RELAYER_START_BLOCK", String(m.blockNumber), "startBlock");
      fill("SUBSCRIPTIONS_ADDRESS", (file.subscriptions as { address?: string } | undefined)?.address === undefined ? features.subscriptions : undefined);
      fill("RELAYER_CHAINED", features.chained === undefined ? undefined : JSON.stringify([features.chained]), "chained");
      fill("RELAYER_REDUNDANT", features.redundant === undefined ? undefined : JSON.stringify([features.redundant]), "redundant");
      break;
    case "worker":
      fill("WORKER_ALLOWED_ORACLES", JSON.stringify([{ chainId: m.chainId, oracle: m.oracle }]), "allowedOracles");
      fill("REGISTRY_ADDRESS", m.registry);
      break;
    case "challenger":
      fill("CHALLENGER_ORACLE", m.oracle);
      fill("CHALLENGER_START_BLOCK", String(m.blockNumber), "startBlock");
      break;
  }
  return out;
}

/**
 * For a service entry point: when neither `env` nor its config file names the oracle, the manifest of the chain
 * at `rpcUrl` (manifestForRpc) fills the service's variables (manifestServiceEnv) into `env`. Returns the
 * manifest used, or undefined when the addresses were given.
 */
export async function serviceManifest(service: ManifestService, rpcUrl: string | undefined, env: NodeJS.ProcessEnv, file: Record<string, unknown> = {}): Promise<FoundManifest | undefined> {
  const variable = SERVICE_ORACLE_VARIABLE[service];
  const fileNames = service === "worker" ? file.allowedOracles !== undefined : service === "challenger" ? file.oracle !== undefined : false;
  if ((env[variable] !== undefined && env[variable] !== "") || fileNames) return undefined;
  if (rpcUrl === undefined || rpcUrl === "") return undefined;
  const found = await manifestForRpc(rpcUrl, manifestDir(env), `set ${variable}`);
  Object.assign(env, manifestServiceEnv(service, found, env, file));
  return found;
}
