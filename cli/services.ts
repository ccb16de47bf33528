/**
 * `oracle worker start`, `oracle relayer start`, `oracle challenger start`: the service entry points
 * (worker/main.ts, relayer/main.ts, challenger/main.ts) run from a config file plus environment overrides, after a check that reports
 * every problem at once — schema problems in the file and the environment, missing or malformed
 * variables — instead of the first one.
 */
import { existsSync, readFileSync } from "node:fs";
import { stakeProblem, loadWorkerConfig } from "../worker/index.js";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { JsonRpcProvider, Wallet, ZeroAddress } from "ethers";
import { z } from "zod";
import { envOverrides, AddressSchema, PrivateKeySchema, isError, serviceManifest, type ManifestService } from "../protocol/index.js";
import { RelayerConfigSchema } from "../relayer/index.js";
import { loadChallengerConfig } from "../challenger/index.js";
import { InferenceOracle__factory } from "../types/ethers-contracts/index.js";
import { cliError, oracleCommand, readDeployment } from "./common.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (path === undefined) return {};
  if (!existsSync(path)) {
    problems.push(`config file ${resolve(path)} does not exist`);
    return {};
  }
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      problems.push(`config file ${path} must hold a JSON object`);
      return {};
    }
    return value as Record<string, unknown>;
  } catch (error) {
    problems.push(`config file ${path} is not JSON: ${(error as Error).message}`);
    return {};
  }
}

function checkEnv(env: NodeJS.ProcessEnv, name: string, schema: z.ZodType, problems: string[], required: boolean): void {
  const value = env[name];
  if (value === undefined || value === "") {
    if (required) problems.push(`${name}: required`);
    return;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) problems.push(`${name}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
}

const url = z.url("expected a URL");
const amqpUrl = z.string().regex(/^amqps?:\/\//, "expected an amqp:// or amqps:// URL");

function fail(service: string, problems: string[]): never {
  throw cliError("CONFIG_INVALID", `the ${service} cannot start; ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  - ${problems.join("\n  - ")}`, { problems });
}

/** Fills RPC_URL, ORACLE_ADDRESS / allowed oracles and REGISTRY_ADDRESS from a deployment file, where not already set. */
function fromDeployment(path: string | undefined, env: NodeJS.ProcessEnv, problems: string[]): void {
  if (path === undefined) return;
  try {
    const d = readDeployment(path, true)!;
    if (d.rpcUrl !== undefined) env.RPC_URL ||= d.rpcUrl;
    env.ORACLE_ADDRESS ||= d.oracle;
    env.REGISTRY_ADDRESS ||= d.registry;
    env.CHAIN_ID ||= d.chainId;
    // The relayer keeps the deployment's subscriptions contract (relayer/keeper.ts).
    if (d.subscriptions !== undefined) env.SUBSCRIPTIONS_ADDRESS ||= d.subscriptions;
    env.WORKER_ALLOWED_ORACLES ||= JSON.stringify([{ chainId: d.chainId, oracle: d.oracle }]);
  } catch (error) {
    problems.push((error as Error).message);
  }
}

/**
 * `oracle <service> start` with no deployment file: when the service's variables (and config file) name no
 * oracle, the manifest of the chain its RPC endpoint serves (`--rpc`, else RPC_URL, or CHALLENGER_RPC_URL / the
 * file's rpcUrl for the challenger) fills them (protocol/manifest.ts serviceManifest). Returns the manifest's
 * file, or undefined when none was needed.
 */
export async function fromManifest(service: ManifestService, configPath: string | undefined, env: NodeJS.ProcessEnv, rpc?: string): Promise<{ file?: string; problem?: string }> {
  const file = readConfigFile(configPath, []);
  const rpcVariable = service === "challenger" ? "CHALLENGER_RPC_URL" : "RPC_URL";
  if (rpc !== undefined && rpc !== "") env[rpcVariable] ||= rpc;
  const rpcUrl = env[rpcVariable] || (service === "challenger" && typeof file.rpcUrl === "string" ? file.rpcUrl : undefined);
  try {
    const found = await serviceManifest(service, rpcUrl, env, file);
    return found === undefined ? {} : { file: found.file };
  } catch (error) {
    // Reported with every other problem of the configuration (no manifest, or a node that does not answer).
    return { problem: (error as Error).message };
  }
}

/** Validates everything a worker process needs; returns the environment to start it with. */
export function checkWorker(configPath: string | undefined, deploymentPath: string | undefined, baseEnv: NodeJS.ProcessEnv, earlier: string[] = []): NodeJS.ProcessEnv {
  const env = { ...baseEnv };
  const problems: string[] = [...earlier];
  fromDeployment(deploymentPath, env, problems);
  const file = readConfigFile(configPath, problems);
  if (deploymentPath !== undefined && file.allowedOracles !== undefined) delete env.WORKER_ALLOWED_ORACLES;
  try {
    loadWorkerConfig(file, env);
  } catch (error) {
    if (isError(error, "CONFIG_INVALID")) problems.push(...((error.details.problems as string[]) ?? [error.message]));
    else problems.push((error as Error).message);
  }
  checkEnv(env, "RABBITMQ_URL", amqpUrl, problems, true);
  checkEnv(env, "RPC_URL", url, problems, false);
  checkEnv(env, "REGISTRY_ADDRESS", AddressSchema, problems, false);
  checkEnv(env, "METRICS_PORT", z.coerce.number().int().min(0).max(65535), problems, false);
  if (problems.length > 0) fail("worker", problems);
  return env;
}

/**
 * The worker's standing on chain, for each oracle it signs for: its signing key must belong to a
 * registered operator whose active stake covers the minimum and one result bond, or every result
 * it signs is dropped by the relayer (and the requester sees only a timeout). Returns the problems,
 * each naming the key, the stake and the command that fixes it; none when it is staked.
 */
export async function workerStakeProblems(configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<{ problems: string[]; notes: string[] }> {
  const file = readConfigFile(configPath, []);
  const config = loadWorkerConfig(file, env);
  const signer = new Wallet(config.signerKey).address;
  const rpcUrl = env.RPC_URL;
  const cmd = oracleCommand();
  if (rpcUrl === undefined || rpcUrl === "") {
    return { problems: [], notes: [`the stake of signing key ${signer} was not checked: set RPC_URL (or pass --deployment) to check it`] };
  }
  const problems: string[] = [];
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1 });
  try {
    let chainId: bigint;
    try {
      chainId = (await provider.getNetwork()).chainId;
    } catch (error) {
      return { problems: [`RPC_URL ${rpcUrl} does not answer, so the stake of signing key ${signer} cannot be checked: ${(error as Error).message}`], notes: [] };
    }
    for (const domain of config.allowedOracles) {
      if (domain.chainId !== chainId) continue;
      const oracle = InferenceOracle__factory.connect(domain.oracle, provider);
      try {
        const [operator, params] = await Promise.all([oracle.operatorOf(signer), oracle.params()]);
        const w = operator === ZeroAddress ? { stake: 0n, unbonding: 0n, locked: 0n } : await oracle.getWorker(operator);
        const problem = stakeProblem({ signer, oracle: domain.oracle, chainId, operator, stake: w.stake, unbonding: w.unbonding, locked: w.locked, minStake: params.minStake, resultBond: params.resultBond }, cmd);
        if (problem !== undefined) problems.push(problem);
      } catch (error) {
        problems.push(`cannot read the stake of signing key ${signer} from the oracle ${domain.oracle} at ${rpcUrl}: ${(error as Error).message}`);
      }
    }
    if (!config.allowedOracles.some((d) => d.chainId === chainId)) {
      problems.push(`RPC_URL ${rpcUrl} serves chain ${chainId}, but the worker signs only for chain${config.allowedOracles.length === 1 ? "" : "s"} ${config.allowedOracles.map((d) => d.chainId).join(", ")}`);
    }
  } finally {
    provider.destroy();
  }
  return { problems, notes: [] };
}

/** Throws CONFIG_INVALID listing every stake problem of the worker (see workerStakeProblems); returns notes to show. */
export async function checkWorkerStake(configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  const { problems, notes } = await workerStakeProblems(configPath, env);
  if (problems.length > 0) fail("worker", problems);
  return notes;
}

/** Validates everything a relayer process needs; returns the environment to start it with. */
export function checkRelayer(configPath: string | undefined, deploymentPath: string | undefined, baseEnv: NodeJS.ProcessEnv, earlier: string[] = []): NodeJS.ProcessEnv {
  const env = { ...baseEnv };
  const problems: string[] = [...earlier];
  fromDeployment(deploymentPath, env, problems);
  const file = readConfigFile(configPath, problems);
  let overrides: Record<string, unknown> = {};
  try {
    overrides = envOverrides("RELAYER", env);
  } catch (error) {
    problems.push(`RELAYER_* variables: ${(error as Error).message}`);
  }
  const parsed = RelayerConfigSchema.safeParse({ ...file, ...overrides });
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  checkEnv(env, "RPC_URL", url, problems, true);
  checkEnv(env, "RELAYER_KEY", PrivateKeySchema, problems, true);
  checkEnv(env, "ORACLE_ADDRESS", AddressSchema, problems, true);
  // Without a broker the relayer's jobs stay in its own process, where no worker process can take them.
  if (env.RABBITMQ_URL === undefined || env.RABBITMQ_URL === "") problems.push("RABBITMQ_URL: required (without a broker no worker process can reach this relayer's jobs)");
  else checkEnv(env, "RABBITMQ_URL", amqpUrl, problems, false);
  checkEnv(env, "CHAIN_ID", z.string().regex(/^[0-9]+$/, "expected a decimal chain id"), problems, false);
  if (problems.length > 0) fail("relayer", problems);
  return env;
}

/** Validates everything a challenger process needs (challenger/config.ts); returns the environment to start it with. */
export function checkChallenger(configPath: string | undefined, deploymentPath: string | undefined, baseEnv: NodeJS.ProcessEnv, earlier: string[] = []): NodeJS.ProcessEnv {
  const env = { ...baseEnv };
  const problems: string[] = [...earlier];
  if (deploymentPath !== undefined) {
    try {
      const d = readDeployment(deploymentPath, true)!;
      if (d.rpcUrl !== undefined) env.CHALLENGER_RPC_URL ||= d.rpcUrl;
      env.CHALLENGER_ORACLE ||= d.oracle;
      if (d.relayerUrl !== undefined) env.CHALLENGER_BLOB_STORE_URL ||= d.relayerUrl;
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const file = readConfigFile(configPath, problems);
  try {
    loadChallengerConfig(file, env);
  } catch (error) {
    if (isError(error, "CONFIG_INVALID")) problems.push(...((error.details.problems as string[]) ?? [error.message]));
    else problems.push((error as Error).message);
  }
  checkEnv(env, "METRICS_PORT", z.string().regex(/^[0-9]+$/, "expected a port number"), problems, false);
  if (problems.length > 0) fail("challenger", problems);
  return env;
}

const ENTRY_POINTS = {
  worker: () => import("../worker/main.js"),
  relayer: () => import("../relayer/main.js"),
  challenger: () => import("../challenger/main.js"),
} as const;

/**
 * Runs a service's process entry point in this process: the entry modules start themselves on
 * import with process.argv and process.env (and handle SIGINT/SIGTERM), so both are set first.
 */
export async function runEntryPoint(service: keyof typeof ENTRY_POINTS, configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  const entry = resolve(ROOT, service, "main.ts");
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  // How the worker's stake warnings spell the fix (`oracle stake ...` or `npm run oracle -- stake ...`).
  process.env.ORACLE_COMMAND ??= oracleCommand();
  process.argv = [process.argv[0]!, entry, ...(configPath === undefined ? [] : [resolve(configPath)])];
  await ENTRY_POINTS[service]();
}
