/**
 * What every subcommand shares: the deployment file, the RPC connection and key, output (human
 * lines on stderr/stdout, or one JSON object with --json), progress display, and error reporting
 * with stable codes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { formatEther, getAddress, JsonRpcProvider, Wallet } from "ethers";
import { z } from "zod";
import {
  OracleError,
  isBytes32,
  AddressSchema,
  findManifest,
  manifestDir,
  manifestFeatures,
  parseManifest,
  type DeploymentManifest,
} from "../protocol/index.js";
import { chainError, isSdkError, OracleSdkError, type SdkErrorCode } from "../sdk/index.js";

/** The repository this CLI runs from. */
const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where `oracle dev` and `oracle deploy` write the deployment, and every other command reads it. */
export const DEFAULT_DEPLOYMENT = ".data/oracle/deployment.json";
/** The worker's default `maxInlineOutputBytes` (worker/config.ts): larger outputs go as hash only (`model check`, `model register`). */
export const DEFAULT_INLINE_OUTPUT_CAP = 4096;

export const DeploymentSchema = z.object({
  chainId: z.string().regex(/^[0-9]+$/),
  rpcUrl: z.string().optional(),
  registry: AddressSchema,
  oracle: AddressSchema,
  resolver: AddressSchema.optional(),
  /** The FraudGame (the OPTIMISTIC dispute game) when the deployment has one. */
  fraudGame: AddressSchema.optional(),
  /** InferenceSubscriptions (prepaid recurring requests), when the deployment has one. */
  subscriptions: AddressSchema.optional(),
  /** ChainedInference and RedundantInference (docs/FEATURES.md), when the deployment placed them. */
  chained: AddressSchema.optional(),
  redundant: AddressSchema.optional(),
  /** The ZkDisputeResolver (disputes on ZK-capable models answered with a proof), when the deployment has one. */
  zkResolver: AddressSchema.optional(),
  deployBlock: z.number().int().nonnegative(),
  admin: z.string().optional(),
  relayerUrl: z.string().optional(),
  params: z.record(z.string(), z.string()).optional(),
  models: z.array(z.object({ modelHash: z.string(), name: z.string().optional() })).optional(),
  accounts: z.array(z.object({ role: z.string(), address: z.string(), privateKey: z.string() })).optional(),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

/**
 * How the user runs this CLI, for the commands that hints and errors suggest: `npm run oracle --`
 * when started through the npm script or from the repository, `oracle` when it is on the PATH
 * (`npm link`), else the path of bin/oracle.js from the current folder.
 */
export function oracleCommand(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.npm_lifecycle_event === "oracle") return "npm run oracle --";
  const onPath = (env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && existsSync(join(dir, "oracle")));
  if (onPath) return "oracle";
  // `npm run` works only in the repository; elsewhere, the command's own file.
  if (resolve(cwd) === REPOSITORY) return "npm run oracle --";
  const bin = join(REPOSITORY, "bin/oracle.js");
  const rel = relative(cwd, bin);
  return rel.startsWith("..") && rel.split(sep).filter((p) => p === "..").length > 2 ? bin : rel.startsWith(".") ? rel : `./${rel}`;
}

export class CliError extends OracleSdkError {}

export function cliError(code: SdkErrorCode, message: string, details: Record<string, unknown> = {}): CliError {
  return new CliError(code, message, { details });
}

export interface GlobalOptions {
  deployment?: string;
  rpc?: string;
  key?: string;
  json?: boolean;
}

export function readDeployment(path: string, explicit: boolean): Deployment | undefined {
  const file = resolve(path);
  if (!existsSync(file)) {
    if (explicit) throw cliError("CONFIG_INVALID", `deployment file ${file} does not exist (write one with \`${oracleCommand()} dev\` or \`${oracleCommand()} deploy\`)`);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw cliError("CONFIG_INVALID", `deployment file ${file} is not JSON: ${(error as Error).message}`);
  }
  // A deployment manifest (deployments/<chainId>.json, protocol/manifest.ts) serves as a deployment file too.
  if (typeof raw === "object" && raw !== null && "contracts" in raw && "version" in raw) {
    try {
      return manifestDeployment(parseManifest(raw, file));
    } catch (error) {
      throw cliError("CONFIG_INVALID", (error as Error).message);
    }
  }
  const parsed = DeploymentSchema.safeParse(raw);
  if (!parsed.success) {
    throw cliError("CONFIG_INVALID", `deployment file ${file} is invalid:\n  - ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  - ")}`);
  }
  return parsed.data;
}

export function writeJson(path: string, value: unknown): string {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
  return file;
}

/** The options of the root command merged with a subcommand's (commander keeps them apart). */
export function globals(cmd: { optsWithGlobals(): Record<string, unknown> }): GlobalOptions & Record<string, unknown> {
  return cmd.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
}

export interface Context {
  deployment: Deployment | undefined;
  deploymentPath: string;
  rpcUrl: string;
  provider: JsonRpcProvider;
  json: boolean;
  /** The wallet from --key / ORACLE_KEY; throws CONFIG_INVALID when none was given. */
  wallet(): Wallet;
  close(): void;
}

/** Where `oracle deploy` writes a manifest per chain (`<chainId>.json`), and where the CLI and the services look for the connected chain's. */
export { DEFAULT_MANIFEST_DIR } from "../protocol/index.js";

/** A deployment manifest (protocol/manifest.ts) read as a deployment record. */
export function manifestDeployment(manifest: DeploymentManifest, rpcUrl?: string): Deployment {
  return {
    chainId: manifest.chainId,
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    registry: manifest.registry,
    oracle: manifest.oracle,
    ...(manifest.resolver === undefined ? {} : { resolver: manifest.resolver }),
    ...(manifest.fraudGame === undefined ? {} : { fraudGame: manifest.fraudGame }),
    deployBlock: manifest.blockNumber,
    admin: manifest.admin,
    params: manifest.params,
    // The feature contracts the deployment placed (the relayer keeps the subscriptions contract).
    ...(manifestFeatures(manifest).subscriptions === undefined ? {} : { subscriptions: manifestFeatures(manifest).subscriptions }),
  };
}

/**
 * Opens the RPC connection: --rpc, else ORACLE_RPC_URL, else the deployment's rpcUrl. The deployment:
 * --deployment / ORACLE_DEPLOYMENT (explicit: it wins), else the default deployment file when it is for the
 * connected chain, else the connected chain's manifest in ORACLE_MANIFESTS (default `deployments/`).
 */
export async function context(opts: GlobalOptions, { needDeployment = true } = {}): Promise<Context & { deployment: Deployment }> {
  const envPath = process.env.ORACLE_DEPLOYMENT === "" ? undefined : process.env.ORACLE_DEPLOYMENT;
  const explicit = opts.deployment !== undefined || envPath !== undefined;
  const deploymentPath = opts.deployment ?? envPath ?? DEFAULT_DEPLOYMENT;
  let deployment = readDeployment(deploymentPath, explicit);
  const rpcUrl = opts.rpc ?? process.env.ORACLE_RPC_URL ?? deployment?.rpcUrl;
  if (rpcUrl === undefined) {
    if (needDeployment && deployment === undefined) {
      throw cliError("CONFIG_INVALID", `no deployment: start a local one with \`${oracleCommand()} dev\`, deploy with \`${oracleCommand()} deploy\`, or pass --deployment <file> (looked for ${resolve(deploymentPath)})`);
    }
    throw cliError("CONFIG_INVALID", "no RPC endpoint: pass --rpc <url> or set ORACLE_RPC_URL");
  }
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, pollingInterval: 250, batchMaxCount: 1, cacheTimeout: -1 });
  let chainId: bigint;
  try {
    chainId = (await provider.getNetwork()).chainId;
  } catch (error) {
    provider.destroy();
    throw new CliError("CHAIN_UNAVAILABLE", `the chain at ${rpcUrl} does not answer: ${(error as Error).message}`, { cause: error });
  }
  if (!explicit && (deployment === undefined || BigInt(deployment.chainId) !== chainId)) {
    // No deployment named: the default file when it is this chain's, else this chain's manifest.
    let manifest: DeploymentManifest | undefined;
    try {
      manifest = (await findManifest(chainId, manifestDir()))?.manifest;
    } catch (error) {
      provider.destroy();
      throw cliError("CONFIG_INVALID", (error as Error).message);
    }
    if (manifest !== undefined) deployment = manifestDeployment(manifest, rpcUrl);
  }
  if (needDeployment && deployment === undefined) {
    provider.destroy();
    throw cliError("CONFIG_INVALID", `no deployment: start a local one with \`${oracleCommand()} dev\`, deploy with \`${oracleCommand()} deploy\`, or pass --deployment <file> (looked for ${resolve(deploymentPath)} and a manifest for chain ${chainId} in deployments/)`);
  }
  if (deployment !== undefined && BigInt(deployment.chainId) !== chainId) {
    provider.destroy();
    throw cliError("CONFIG_INVALID", `the deployment is for chain ${deployment.chainId} but ${rpcUrl} serves chain ${chainId}`, { deploymentChainId: String(deployment.chainId), chainId: String(chainId) });
  }
  const key = opts.key ?? process.env.ORACLE_KEY;
  return {
    deployment: deployment as Deployment,
    deploymentPath,
    rpcUrl,
    provider,
    json: opts.json === true,
    wallet() {
      if (key === undefined || key === "") throw cliError("CONFIG_INVALID", "this command sends a transaction: pass --key <private key> or set ORACLE_KEY");
      if (!isBytes32(key)) throw cliError("CONFIG_INVALID", "--key / ORACLE_KEY must be a 0x-prefixed 32-byte private key");
      return new Wallet(key, provider);
    },
    close() {
      provider.destroy();
    },
  };
}

export function address(value: string, what: string): string {
  try {
    return getAddress(value);
  } catch {
    throw cliError("CONFIG_INVALID", `${what} ${JSON.stringify(value)} is not an address`);
  }
}

export function eth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

/** A transaction, sent and mined, with progress; reverts decoded (TX_REVERTED with the contract error's name). */
export async function send<T extends { hash: string; wait(): Promise<unknown> }>(what: string, sendTx: () => Promise<T>, progress: Progress): Promise<T> {
  return progress.step(what, async () => {
    let tx: T;
    try {
      tx = await sendTx();
      await tx.wait();
    } catch (error) {
      throw chainError(what, error);
    }
    return tx;
  });
}

/** Progress on stderr: a spinner line on a terminal, one line per step otherwise. */
export class Progress {
  private readonly tty: boolean;
  constructor(private readonly quiet = false) {
    this.tty = process.stderr.isTTY === true;
  }
  info(line: string): void {
    if (!this.quiet) process.stderr.write(`${line}\n`);
  }
  async step<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    if (this.quiet) return fn();
    if (this.tty) {
      const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
      let i = 0;
      const draw = () => process.stderr.write(`\r\x1b[2K${frames[i++ % frames.length]} ${label} ${((Date.now() - started) / 1000).toFixed(1)}s`);
      draw();
      timer = setInterval(draw, 100);
    } else {
      process.stderr.write(`… ${label}\n`);
    }
    try {
      const out = await fn();
      if (timer) clearInterval(timer);
      process.stderr.write(`${this.tty ? "\r\x1b[2K" : ""}✔ ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      return out;
    } catch (error) {
      if (timer) clearInterval(timer);
      process.stderr.write(`${this.tty ? "\r\x1b[2K" : ""}✘ ${label}\n`);
      throw error;
    }
  }
}

/** Prints `value` as JSON on stdout (--json) or the human lines. */
export function output(json: boolean, value: unknown, lines: () => string[]): void {
  if (json) process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
  else process.stdout.write(`${lines().join("\n")}\n`);
}

/** The last word on a failure: `error [CODE]: message`, details indented; exit status 1. */
export function reportError(error: unknown, json: boolean): number {
  const known = isSdkError(error) || error instanceof OracleError;
  const code = known ? (error as { code: string }).code : "INTERNAL";
  const message = error instanceof Error ? error.message : String(error);
  const details = known ? (error as { details: Record<string, unknown> }).details : {};
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message, details } }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
  process.stderr.write(`error [${code}]: ${message}\n`);
  if (!known && error instanceof Error && error.stack !== undefined && process.env.ORACLE_DEBUG) process.stderr.write(`${error.stack}\n`);
  return 1;
}
