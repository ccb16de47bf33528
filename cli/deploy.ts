/**
 * Deployment and model registration, shared by `oracle deploy`, `oracle dev` and `oracle model`:
 * ModelRegistry + InferenceOracle + FraudGame (the bisection game over canonical traces, ending in one
 * exact step checked on-chain by StepVerifier: the default OPTIMISTIC resolver) on any JSON-RPC endpoint,
 * plus an ArbiterResolver only when the deployment names an arbiter (a trusted party: it decides disputes
 * at will), and an ONNX file's hash, specs and commitment root read from the file itself.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { getAddress, parseEther, ZeroAddress, type Signer } from "ethers";
import { z } from "zod";
import { commitModel, decodeOnnx } from "../protocol/commitment.js";
import { DEFAULT_MAX_TENSOR_ELEMENTS, modelShapeProblems } from "../protocol/shapeBounds.js";
import { loadConfig } from "../protocol/config.js";
import { AddressSchema } from "../protocol/schemas.js";
import { isError } from "../protocol/errors.js";
import { DEFAULT_GAME_TIMES, deployFraudGame, deployInferenceOracle, placeContract, type Create2Mode } from "../protocol/deployOracle.js";
import { CREATE2_FACTORY, DEFAULT_DEPLOY_SALT, deploymentMismatch, ensureCreate2Factory, type FactoryInstall } from "../protocol/create2.js";
import type { DeploymentManifest } from "../protocol/manifest.js";
import { dtypeCode, dtypeFromCode, type TensorSpec } from "../protocol/tensor.js";
import { canonicalNames, MAX_BUNDLE_TENSORS } from "../protocol/bundle.js";
import { Ruling, Tier, type Hex } from "../protocol/types.js";
import { ArbiterResolver__factory, InferenceSubscriptions__factory, ModelRegistry__factory } from "../types/ethers-contracts/index.js";
import type { ModelRegistry } from "../types/ethers-contracts/index.js";
import { cliError, send, type Deployment, type Progress } from "./common.js";

const ether = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseEther(String(v));
  } catch {
    ctx.addIssue({ code: "custom", message: `expected an ETH amount such as "0.1", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
});
const address = AddressSchema;

/** `oracle deploy --config file`: every field optional; amounts in ETH, durations in seconds. */
export const DeployConfigSchema = z.object({
  admin: address.optional().describe("admin of the registry and the oracle (default: the deployer)"),
  arbiter: address
    .optional()
    .describe(
      "deploy an ArbiterResolver ruled by this account and make it the default OPTIMISTIC resolver. The arbiter is a TRUSTED party: it decides every dispute at will (slashes any worker, or clears any result). Absent: no arbiter; the FraudGame is the default",
    ),
  disputeWindow: z.number().int().positive().default(3600).describe("seconds the arbiter has to rule before the default outcome (an ArbiterResolver only; the game's clocks are `game`)"),
  fraudGame: z
    .boolean()
    .default(true)
    .describe("deploy the step verifier and the FraudGame (docs/OPTIMISTIC.md), approved in the registry; the default OPTIMISTIC resolver unless an arbiter is named"),
  game: z
    .object({
      responseTime: z.number().int().positive().default(DEFAULT_GAME_TIMES.responseTime).describe("seconds the worker has to commit its trace after a dispute opens, and to answer each attack (silence: WorkerFault)"),
      moveClock: z.number().int().positive().default(DEFAULT_GAME_TIMES.moveClock).describe("seconds challengers have for each next move after the worker's answer (the game ends moveClock after the last answer left unattacked)"),
      maxAttacks: z.number().int().positive().max(4096).default(DEFAULT_GAME_TIMES.maxAttacks).describe("attacks one challenger may make in one game"),
    })
    .strict()
    .prefault({})
    .describe("the FraudGame's clocks (immutables)"),
  params: z
    .object({
      minStake: ether.default(parseEther("1")),
      resultBond: ether.default(parseEther("0.1")),
      challengeBond: ether.default(parseEther("0.1")),
      minWorkerFee: ether.default(parseEther("0.001")),
      challengeWindow: z.number().int().positive().default(600),
      unbondingDelay: z.number().int().nonnegative().default(7 * 24 * 3600),
      relayerFeeBps: z.number().int().min(0).max(10_000).default(1000),
      maxInlineInputBytes: z.number().int().nonnegative().default(16 * 1024),
      maxInlineOutputBytes: z.number().int().nonnegative().default(4096),
      maxCallbackGasLimit: z.number().int().positive().default(2_000_000),
      paramsDelay: z.number().int().nonnegative().max(90 * 86400).default(86400).describe("seconds a scheduled params change waits before it applies (to new requests only)"),
      minGasPrice: z.coerce.bigint().nonnegative().default(1_000_000_000n).describe("wei per gas, at least, that a request's callbackGasLimit is priced at (the block's basefee when higher); paid to whoever executes the callback"),
      rejectionQuorum: z.number().int().min(1).max(64).default(2).describe("distinct staked workers whose signed rejections refund a request (until then it stays open; its requester may cancel it)"),
      burnBps: z.number().int().min(1).max(10_000).default(2000).describe("share of every slash and of every losing challenger's bond that is burned (kept in the oracle for ever), so a worker never breaks even on its own proven fault"),
      tolerancePenaltyBps: z.number().int().min(0).max(10_000).default(2500).describe("share of the result bond slashed when a dispute rules OutputMinor (output beyond tau_out, canonical trace right)"),
    })
    .strict()
    .prefault({}),
}).strict();
export type DeployConfig = z.output<typeof DeployConfigSchema>;
export type DeployConfigInput = z.input<typeof DeployConfigSchema>;

export function loadDeployConfig(input: unknown): DeployConfig {
  return loadConfig(DeployConfigSchema, input);
}

export interface DeployOptions {
  /**
   * The base salt: every contract (libraries included) goes through the CREATE2 factory under a salt derived
   * from it (protocol/create2.ts), so the same deployer, config and salt give the same addresses on every
   * chain. Default DEFAULT_DEPLOY_SALT; false deploys with plain CREATE (addresses from the deployer's nonce).
   */
  salt?: Hex | false;
  /**
   * This chain's manifest from an earlier deployment: a contract it records must come out at the same address
   * (else this config, deployer or salt differs from that deployment's: refused before anything is sent), and a
   * contract found deployed must have the code hash it records.
   */
  previous?: DeploymentManifest;
}

/** What deployContracts returns: the deployment record, and with CREATE2 the manifest (not yet written). */
export type DeployResult = Deployment & { manifest?: DeploymentManifest; factoryInstall?: FactoryInstall; reused?: string[] };

/** The commit the contracts were built from, when this runs from a git checkout. */
function gitCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: REPOSITORY, stdio: ["ignore", "pipe", "ignore"], timeout: 5000 }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}
const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Deploys registry, oracle and resolvers (approved in the registry); returns the deployment record.
 * `resolver` in the record, the default for `oracle model register`, is the ArbiterResolver only when
 * `config.arbiter` names one, else the FraudGame (absent when neither is deployed); `fraudGame` names the game.
 *
 * With a salt (the default) every contract goes through the CREATE2 factory (installed first when the chain
 * lacks it) and is reused when already deployed: running it again with the same deployer, config and salt
 * sends only what is missing (approvals, the admin hand-over). The registry's init code names the deployer as
 * its first admin and the oracle's names `admin` as owner, so nobody else can create these addresses with
 * another owner: a front-runner with the same salt and another owner lands elsewhere (test/attacks/create2-*).
 */
export async function deployContracts(deployer: Signer, config: DeployConfig, progress: Progress, rpcUrl?: string, options: DeployOptions = {}): Promise<DeployResult> {
  const me = await deployer.getAddress();
  const provider = deployer.provider!;
  const chainId = (await provider.getNetwork()).chainId;
  const admin = getAddress(config.admin ?? me);
  const salt = options.salt === undefined ? DEFAULT_DEPLOY_SALT : options.salt;
  const previous = salt !== false && options.previous?.salt.toLowerCase() === salt.toLowerCase() ? options.previous : undefined;
  let factoryInstall: FactoryInstall | undefined;
  if (salt !== false) {
    factoryInstall = await progress.step("checking the CREATE2 factory (Arachnid's deterministic deployment proxy)", () => ensureCreate2Factory(deployer));
    if (factoryInstall === "presigned") progress.info(`  installed the CREATE2 factory ${CREATE2_FACTORY} with its presigned keyless transaction`);
    if (factoryInstall === "setCode") progress.info(`  installed the CREATE2 factory ${CREATE2_FACTORY} with hardhat_setCode (this chain refused the presigned transaction; a development chain)`);
  }
  const deployBlock = previous?.blockNumber ?? (await provider.getBlockNumber());
  const create2: Create2Mode | undefined = salt === false ? undefined : { salt, expect: previous?.contracts, placed: [] };
  // The deployer is the registry's first admin until the resolvers are approved, then hands over.
  const registry = await progress.step("deploying ModelRegistry", async () => ModelRegistry__factory.connect(await placeContract(deployer, "ModelRegistry", new ModelRegistry__factory(deployer), [me], create2), deployer));
  const registryAddress = await registry.getAddress();
  const oracle = await progress.step("deploying InferenceOracle", async () => {
    return deployInferenceOracle(deployer, registryAddress, admin, config.params, undefined, create2);
  });
  const oracleAddress = await oracle.getAddress();
  // An approval is sent only when missing (a rerun finds the earlier ones); only the registry's admin can send it.
  const approve = async (what: string, resolver: string): Promise<void> => {
    if (await registry.isApprovedResolver(resolver)) return;
    const current = await registry.admin();
    if (current.toLowerCase() !== me.toLowerCase()) {
      throw deploymentMismatch(`the registry's admin is ${current}, not the deployer ${me}: it must approve the ${what} ${resolver} (registry.setResolverApproval)`, { registry: registryAddress, resolver });
    }
    await send(`approving the ${what} in the registry`, () => registry.setResolverApproval(resolver, true), progress);
  };
  let arbiterResolver: string | undefined;
  if (config.arbiter !== undefined) {
    const arbiter = config.arbiter;
    arbiterResolver = await progress.step(`deploying ArbiterResolver (arbiter ${arbiter}, a trusted party)`, async () =>
      placeContract(deployer, "ArbiterResolver", new ArbiterResolver__factory(deployer), [oracleAddress, arbiter, config.disputeWindow, Ruling.WorkerRight], create2),
    );
    await approve("ArbiterResolver", arbiterResolver);
  }
  let fraudGame: string | undefined;
  if (config.fraudGame) {
    fraudGame = await progress.step(
      `deploying the step verifier and the FraudGame (response ${config.game.responseTime} s, move clock ${config.game.moveClock} s, ${config.game.maxAttacks} attacks)`,
      async () => (await deployFraudGame(deployer, oracleAddress, registryAddress, config.game, create2 === undefined ? {} : { create2 })).game.getAddress(),
    );
    await approve("FraudGame", fraudGame);
  }
  // Prepaid recurring requests (docs/FEATURES.md, Subscriptions): no owner, bound to this oracle for ever.
  const subscriptions = await progress.step("deploying InferenceSubscriptions", async () =>
    placeContract(deployer, "InferenceSubscriptions", new InferenceSubscriptions__factory(deployer), [await oracle.getAddress()], create2),
  );
  // The default OPTIMISTIC resolver: the arbiter only when the deployment named one.
  const defaultResolver = arbiterResolver ?? fraudGame;
  if (admin.toLowerCase() !== me.toLowerCase() && (await registry.admin()).toLowerCase() === me.toLowerCase()) {
    await send("handing the registry to the admin", () => registry.transferAdmin(admin), progress);
  }
  const params = Object.fromEntries(Object.entries(config.params).map(([k, v]) => [k, String(v)]));
  const deployment: DeployResult = {
    chainId: chainId.toString(),
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    registry: registryAddress,
    oracle: oracleAddress,
    ...(defaultResolver === undefined ? {} : { resolver: defaultResolver }),
    ...(fraudGame === undefined ? {} : { fraudGame }),
    subscriptions,
    deployBlock,
    admin,
    params,
  };
  if (create2 === undefined) return deployment;
  const commit = gitCommit();
  const manifest: DeploymentManifest = {
    version: 1,
    chainId: chainId.toString(),
    factory: getAddress(CREATE2_FACTORY),
    salt: create2.salt,
    deployer: getAddress(me),
    admin,
    registry: registryAddress,
    oracle: oracleAddress,
    ...(defaultResolver === undefined ? {} : { resolver: defaultResolver }),
    ...(fraudGame === undefined ? {} : { fraudGame, game: config.game }),
    ...(config.arbiter === undefined ? {} : { arbiter: getAddress(config.arbiter), disputeWindow: config.disputeWindow }),
    params,
    blockNumber: deployBlock,
    ...(commit === undefined ? {} : { gitCommit: commit }),
    contracts: Object.fromEntries(create2.placed.map((p) => [p.name, { address: p.address, salt: p.salt, initCodeHash: p.initCodeHash, codeHash: p.codeHash }])),
  };
  return { ...deployment, manifest, ...(factoryInstall === undefined ? {} : { factoryInstall }), reused: create2.placed.filter((p) => p.reused).map((p) => p.name) };
}

export interface OnnxFileInfo {
  file: string;
  modelHash: Hex;
  bytes: number;
  /** From the file; dynamic dimensions read as 0 (any size). */
  input: TensorSpec & { name: string };
  output: TensorSpec & { name: string };
  /** Every input and output, in the file's order (`input` / `output` are the first of each). */
  inputs: (TensorSpec & { name: string })[];
  outputs: (TensorSpec & { name: string })[];
  opset: number | undefined;
  producer: string;
  metadata: Record<string, string>;
}

/** Hash and specs of an ONNX file, read from the file. */
export function onnxFileInfo(file: string): OnnxFileInfo {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw cliError("INPUT_INVALID", `cannot read ${file}: ${(error as Error).message}`);
  }
  let model: ReturnType<typeof decodeOnnx>;
  try {
    model = decodeOnnx(bytes);
  } catch (error) {
    // A model that refers to external data would make every worker read files beside it (docs/SECURITY.md).
    if (isError(error, "MODEL_UNSAFE")) throw cliError("MODEL_UNSAFE", `${file} cannot be registered: ${(error as Error).message}`);
    throw cliError("INPUT_INVALID", `${file} is not an ONNX model: ${(error as Error).message}`);
  }
  // Workers refuse a model whose declared or statically built tensors exceed the shape bound (protocol/shapeBounds.ts).
  const tooLarge = modelShapeProblems(bytes, DEFAULT_MAX_TENSOR_ELEMENTS);
  if (tooLarge.length > 0) throw cliError("MODEL_TOO_LARGE", `${file} cannot be registered: workers refuse to load it: ${tooLarge.slice(0, 3).join("; ")}`, { problems: tooLarge });
  const g = model.graph;
  if (g === null || g === undefined) throw cliError("INPUT_INVALID", `${file} has no graph`);
  const initializers = new Set((g.initializer ?? []).map((t) => t.name));
  const inputs = (g.input ?? []).filter((i) => !initializers.has(i.name ?? ""));
  if (inputs.length < 1 || (g.output ?? []).length < 1) {
    throw cliError("INPUT_INVALID", `${file} has ${inputs.length} inputs and ${(g.output ?? []).length} outputs; a model needs at least one of each`);
  }
  if (inputs.length > MAX_BUNDLE_TENSORS || (g.output ?? []).length > MAX_BUNDLE_TENSORS) {
    throw cliError("INPUT_INVALID", `${file} has ${inputs.length} inputs and ${(g.output ?? []).length} outputs; a request carries at most ${MAX_BUNDLE_TENSORS} of each`);
  }
  const spec = (v: (typeof inputs)[number], what: string): TensorSpec & { name: string } => {
    const tt = v.type?.tensorType;
    const dtype = dtypeFromCode(Number(tt?.elemType ?? 0));
    if (dtype === undefined) throw cliError("INPUT_INVALID", `the model's ${what} ${v.name} has element type ${tt?.elemType}, which the protocol cannot encode`);
    const shape = (tt?.shape?.dim ?? []).map((d) => {
      const n = d.dimValue === null || d.dimValue === undefined ? 0 : Number(d.dimValue.toString());
      return n > 0 ? n : 0;
    });
    return { name: v.name ?? "", dtype, shape };
  };
  const opset = model.opsetImport?.find((o) => (o.domain ?? "") === "" || o.domain === "ai.onnx")?.version;
  return {
    file,
    modelHash: `0x${createHash("sha256").update(bytes).digest("hex")}` as Hex,
    bytes: bytes.byteLength,
    input: spec(inputs[0]!, "input"),
    output: spec(g.output![0]!, "output"),
    inputs: inputs.map((v) => spec(v, "input")),
    outputs: g.output!.map((v) => spec(v, "output")),
    opset: opset === null || opset === undefined ? undefined : Number(opset.toString()),
    producer: `${model.producerName ?? ""} ${model.producerVersion ?? ""}`.trim(),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""])),
  };
}

/**
 * The model commitment root (docs/OPTIMISTIC.md) for a reference input shape: the file's own shape
 * when it is static, else `inputShape`. Undefined (with the reason) when neither gives one.
 */
export async function commitmentOf(file: string, info: OnnxFileInfo, inputShape?: number[]): Promise<{ root?: Hex; traceCount?: number; reason?: string }> {
  const shape = inputShape ?? (info.input.shape.every((d) => d > 0) ? info.input.shape : undefined);
  if (shape === undefined || shape.some((d) => d <= 0)) {
    return { reason: `the input has dynamic dimensions [${info.input.shape}]; give --input-shape to commit to a reference shape` };
  }
  try {
    const c = await commitModel(readFileSync(file), { inputShape: shape });
    return { root: c.root, traceCount: c.traceTypes.length };
  } catch (error) {
    return { reason: (error as Error).message };
  }
}

export const TIER_NAMES: Record<string, Tier> = { none: Tier.NONE, optimistic: Tier.OPTIMISTIC, zk: Tier.ZK };

export function parseTiers(value: string): Tier[] {
  const tiers = value.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
  const bad = tiers.filter((t) => !(t in TIER_NAMES));
  if (bad.length > 0 || tiers.length === 0) throw cliError("CONFIG_INVALID", `--tiers takes a list of ${Object.keys(TIER_NAMES).join(", ")}; got ${JSON.stringify(value)}`);
  return tiers.map((t) => TIER_NAMES[t]!);
}

export interface RegisterModelOptions {
  modelHash: Hex;
  owner: string;
  fee: bigint;
  tiers: Tier[];
  resolver: string;
  zkVerifier?: string;
  commitmentRoot?: Hex;
  input: TensorSpec;
  output: TensorSpec;
  /** A model with several inputs or outputs: every one by name (registerModelIO; `input` / `output` are ignored). */
  named?: { inputs: (TensorSpec & { name: string })[]; outputs: (TensorSpec & { name: string })[] };
  uris: string[];
  /** Replace a registered model's terms (updateModel, as its owner) instead of registering it. */
  update?: boolean;
}

export async function registerModel(registry: ModelRegistry, o: RegisterModelOptions, progress: Progress): Promise<void> {
  const named = (specs: (TensorSpec & { name: string })[]) =>
    canonicalNames(specs.map((x) => x.name)).map((name) => {
      const x = specs.find((y) => y.name === name)!;
      return { name, dtype: dtypeCode(x.dtype), shape: x.shape };
    });
  const info = {
    owner: o.owner,
    fee: o.fee,
    tiers: o.tiers.reduce((m, t) => m | (1 << t), 0),
    active: true,
    resolver: o.resolver,
    zkVerifier: o.zkVerifier ?? ZeroAddress,
    commitmentRoot: o.commitmentRoot ?? `0x${"00".repeat(32)}`,
    input: { dtype: dtypeCode(o.input.dtype), shape: o.input.shape },
    output: { dtype: dtypeCode(o.output.dtype), shape: o.output.shape },
    uris: o.uris,
  };
  if (o.named !== undefined && o.update !== true) {
    const { inputs, outputs } = o.named;
    await send(`registering model ${o.modelHash.slice(0, 10)}… (${inputs.length} inputs, ${outputs.length} outputs)`, () => registry.registerModelIO(o.modelHash, info, named(inputs), named(outputs)), progress);
    return;
  }
  await send(
    `${o.update === true ? "updating" : "registering"} model ${o.modelHash.slice(0, 10)}…`,
    () =>
      registry[o.update === true ? "updateModel" : "registerModel"](o.modelHash, info),
    progress,
  );
}

export function parseShape(value: string, what: string): number[] {
  const dims = value.split(",").map((d) => Number(d.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 0)) throw cliError("CONFIG_INVALID", `${what} must be comma-separated non-negative integers, e.g. 1,3,48,192`);
  return dims;
}
