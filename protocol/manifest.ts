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
