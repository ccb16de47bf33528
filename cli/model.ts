/** `oracle model register | list | inspect | check`. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseEther } from "ethers";
import { Tier, BYTES32_LOWER_PATTERN, hashAbbreviation, isZeroHex } from "../protocol/index.js";
import { ModelRegistry__factory } from "../types/ethers-contracts/index.js";
import { MNIST_MLP_HASH, modelCard, OracleClient, PPOCR_CLS_HASH, type ModelDetails } from "../sdk/index.js";
import { address, cliError, context, eth, oracleCommand, output, Progress, send, type Context, type Deployment, type GlobalOptions } from "./common.js";
import { PRECISIONS, type Precision } from "../canonical/index.js";
import { checkLines, checkModel, DEFAULT_INLINE_OUTPUT_CAP, type CheckReport } from "./check.js";
import { commitmentOf, onnxFileInfo, parseShape, parseTiers, registerModel } from "./deploy.js";

/** Short names of the models `oracle dev` registers; a deployment file's `models[].name` (first word) adds more. */
const SHIPPED_NAMES: Record<string, string> = { "ppocr-cls": PPOCR_CLS_HASH, "mnist-mlp": MNIST_MLP_HASH };

/** Every model hash registered since the deployment, in registration order. */
export async function registeredModels(ctx: Context & { deployment: Deployment }): Promise<string[]> {
  const registry = ModelRegistry__factory.connect(ctx.deployment.registry, ctx.provider);
  const events = await registry.queryFilter(registry.filters.ModelRegistered(), ctx.deployment.deployBlock);
  return [...new Set(events.map((e) => String(e.args.modelHash).toLowerCase()))];
}

/** `name  hash` for each name this deployment knows. */
function namesOf(deployment: Deployment): Map<string, string> {
  const names = new Map(Object.entries(SHIPPED_NAMES));
  for (const m of deployment.models ?? []) {
    const name = m.name?.split(/\s/)[0];
    if (name !== undefined && name !== "") names.set(name.toLowerCase(), m.modelHash.toLowerCase());
  }
  return names;
}

/** The name a model goes by in this deployment, if any. */
export function modelName(deployment: Deployment | undefined, modelHash: string): string | undefined {
  if (deployment === undefined) return undefined;
  for (const [name, hash] of namesOf(deployment)) if (hash === modelHash.toLowerCase()) return name;
  return undefined;
}

/**
 * A model as the user may name it: the full hash, a name (`ppocr-cls`), a hash prefix (`0x4918`, at
 * least 4 hex digits) or the short form printed everywhere (`0x4918…3640`, `0x4918...3640`).
 * Returns the full hash of a registered model; MODEL_NOT_FOUND (pointing to `model list`) otherwise.
 */
export async function resolveModel(target: string, ctx: Context & { deployment: Deployment }): Promise<string> {
  const listHint = `\`${oracleCommand()} model list\` shows the registered models`;
  const wanted = target.trim().toLowerCase();
  let candidates: string[];
  if (BYTES32_LOWER_PATTERN.test(wanted)) {
    candidates = [wanted];
  } else {
    const byName = namesOf(ctx.deployment).get(wanted);
    const short = hashAbbreviation(wanted);
    if (byName === undefined && short === undefined) {
      throw cliError("MODEL_NOT_FOUND", `${JSON.stringify(target)} is neither a model name (${[...namesOf(ctx.deployment).keys()].join(", ")}), a model hash nor a hash prefix; ${listHint}`, { model: target });
    }
    const all = await registeredModels(ctx);
    candidates = byName !== undefined ? all.filter((h) => h === byName) : all.filter((h) => h.startsWith(short!.head) && h.endsWith(short!.tail));
    if (candidates.length > 1) {
      throw cliError("MODEL_NOT_FOUND", `${target} matches ${candidates.length} models (${candidates.join(", ")}): give more digits; ${listHint}`, { model: target, matches: candidates });
    }
  }
  const hash = candidates[0];
  const registry = ModelRegistry__factory.connect(ctx.deployment.registry, ctx.provider);
  if (hash === undefined || !(await registry.isRegistered(hash))) {
    throw cliError("MODEL_NOT_FOUND", `no model ${target} is registered in ${ctx.deployment.registry}; ${listHint}`, { model: target, registry: ctx.deployment.registry });
  }
  return hash;
}

function modelLines(m: ModelDetails): string[] {
  const card = modelCard(m.modelHash);
  return [
    `model      ${m.modelHash}${card ? `  (${card.name})` : ""}`,
    `owner      ${m.owner}`,
    `fee        ${eth(m.fee)} per request (plus the oracle's minimum worker fee)`,
    `tiers      ${m.tiers.map((t) => Tier[t]).join(", ")}${m.active ? "" : "  [INACTIVE]"}`,
    ...(m.inputs.length > 1 || m.outputs.length > 1
      ? [
          ...m.inputs.map((x, i) => `${i === 0 ? "inputs    " : "          "} ${x.name}: ${x.dtype}[${x.shape.map((d) => (d === 0 ? "*" : d))}]`),
          ...m.outputs.map((x, i) => `${i === 0 ? "outputs   " : "          "} ${x.name}: ${x.dtype}[${x.shape.map((d) => (d === 0 ? "*" : d))}]`),
        ]
      : [`input      ${m.input.dtype}[${m.input.shape.map((d) => (d === 0 ? "*" : d))}]`, `output     ${m.output.dtype}[${m.output.shape.map((d) => (d === 0 ? "*" : d))}]`]),
    `commitment ${isZeroHex(m.commitmentRoot) ? "none (zero root)" : m.commitmentRoot}`,
    `resolver   ${m.resolver}`,
    ...(isZeroHex(m.zkVerifier) ? [] : [`zkVerifier ${m.zkVerifier}`]),
    ...m.uris.map((u, i) => `${i === 0 ? "uris      " : "          "} ${u}`),
    ...(card?.labels ? [`labels     ${card.labels.join(" | ")}`] : []),
  ];
}

const json = (m: ModelDetails) => ({ ...m, fee: m.fee.toString(), tiers: m.tiers.map((t) => Tier[t]) });

export async function modelList(o: GlobalOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
    const hashes = await registeredModels(ctx);
    const models = await Promise.all(hashes.map((h) => client.model(h)));
    output(ctx.json, { models: models.map((m) => ({ ...json(m), name: modelName(ctx.deployment, m.modelHash) ?? null })) }, () =>
      models.length === 0
        ? ["no models registered"]
        : [
            ...models.map((m) => {
              const card = modelCard(m.modelHash);
              const name = modelName(ctx.deployment, m.modelHash);
              const io = m.inputs.length > 1 || m.outputs.length > 1
                ? `${m.inputs.map((x) => `${x.name}:${x.dtype}[${x.shape}]`).join(" ")} -> ${m.outputs.map((x) => `${x.name}:${x.dtype}[${x.shape}]`).join(" ")}`
                : `${m.input.dtype}[${m.input.shape}] -> ${m.output.dtype}[${m.output.shape}]`;
              return `${m.modelHash}  ${name === undefined ? "" : `${name}  `}${io}  ${eth(m.fee)}  ${m.tiers.map((t) => Tier[t]).join("+")}${m.active ? "" : " INACTIVE"}${card ? `  ${card.name}` : ""}`;
            }),
            "",
            "(--model takes a name, the hash, or its first digits)",
          ],
    );
  } finally {
    ctx.close();
  }
}

export async function modelInspect(target: string, o: GlobalOptions & { inputShape?: string }): Promise<void> {
  // Not a file: a model name, hash, prefix or short form in the deployment.
  const isHash = !existsSync(target);
  const progress = new Progress(o.json === true);
  let local: Record<string, unknown> | undefined;
  let hash = target.toLowerCase();
  const lines: string[] = [];
  if (!isHash) {
    const info = onnxFileInfo(target);
    hash = info.modelHash;
    const shape = o.inputShape === undefined ? undefined : parseShape(o.inputShape, "--input-shape");
    const c = await progress.step("computing the model commitment", () => commitmentOf(target, info, shape));
    local = { ...info, commitmentRoot: c.root ?? null, ...(c.reason === undefined ? {} : { commitmentNote: c.reason }) };
    lines.push(
      `file       ${resolve(target)} (${info.bytes} bytes, opset ${info.opset ?? "?"}${info.producer ? `, ${info.producer}` : ""})`,
      `model      ${info.modelHash}`,
      ...info.inputs.map((x, i) => `${i === 0 ? (info.inputs.length > 1 ? "inputs    " : "input     ") : "          "} ${x.name}: ${x.dtype}[${x.shape.map((d) => (d === 0 ? "*" : d))}]`),
      ...info.outputs.map((x, i) => `${i === 0 ? (info.outputs.length > 1 ? "outputs   " : "output    ") : "          "} ${x.name}: ${x.dtype}[${x.shape.map((d) => (d === 0 ? "*" : d))}]`),
      `commitment ${c.root ?? `none: ${c.reason}`}`,
    );
  }
  // On-chain terms when a deployment is at hand.
  let chain: ModelDetails | undefined;
  let registered = false;
  try {
    const ctx = await context(o, { needDeployment: isHash });
    try {
      if (ctx.deployment !== undefined) {
        const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
        if (isHash) hash = await resolveModel(target, ctx);
        registered = await client.registry.isRegistered(hash);
        if (registered) chain = await client.model(hash);
      }
    } finally {
      ctx.close();
    }
  } catch (error) {
    if (isHash) throw error;
  }
  if (!isHash) lines.push(registered ? "registered:" : "not registered (oracle model register <file>)");
  if (chain) lines.push(...modelLines(chain).map((l) => (isHash ? l : `  ${l}`)));
  output(o.json === true, { modelHash: hash, file: local ?? null, registered, onChain: chain ? json(chain) : null }, () => lines);
}

export interface CheckCliOptions extends GlobalOptions {
  inputShape?: string;
  precision?: string;
  input?: string[];
  inputs?: string;
  range?: string;
  maxInlineOutput?: string;
  calibrate?: boolean;
  onchain?: boolean;
}

function count(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw cliError("CONFIG_INVALID", `${what} takes a non-negative integer; got ${JSON.stringify(value)}`);
  return n;
}

/** `oracle model check <file.onnx>`: the report of cli/check.ts, as JSON or human lines. */
export async function modelCheck(file: string, o: CheckCliOptions): Promise<void> {
  let range: [number, number] | undefined;
  if (o.range !== undefined) {
    const r = o.range.split(",").map(Number);
    if (r.length !== 2 || r.some((v) => !Number.isFinite(v)) || r[0]! > r[1]!) throw cliError("CONFIG_INVALID", `--range takes lo,hi (e.g. -1,1); got ${JSON.stringify(o.range)}`);
    range = [r[0]!, r[1]!];
  }
  const precision = o.precision ?? "fp32";
  if (!(precision in PRECISIONS)) throw cliError("CONFIG_INVALID", `--precision takes ${Object.keys(PRECISIONS).join(", ")}; got ${JSON.stringify(precision)}`);
  const progress = new Progress(o.json === true);
  const report = await progress.step(o.calibrate === false ? "checking the model" : "checking the model and calibrating τ_out against onnxruntime", () =>
    checkModel(file, {
      precision: precision as Precision,
      ...(o.inputShape === undefined ? {} : { inputShape: parseShape(o.inputShape, "--input-shape") }),
      ...(o.input === undefined ? {} : { inputFiles: o.input }),
      seeded: count(o.inputs, "--inputs", 4),
      ...(range === undefined ? {} : { range }),
      maxInlineOutputBytes: count(o.maxInlineOutput, "--max-inline-output", DEFAULT_INLINE_OUTPUT_CAP),
      calibrate: o.calibrate !== false,
      onchain: o.onchain !== false,
    }),
  );
  output(o.json === true, report, () => checkLines(report));
}

/** CanonicalTerms lines a registration prints (the game's `setCanonicalTerms` sets them; docs/OPTIMISTIC.md). */
function termsLines(report: CheckReport): string[] {
  const t = report.canonicalTerms;
  if (t === null) return [];
  return [
    "canonical terms (ModelRegistry.setCanonicalTerms, set once by the model's owner):",
    `  semanticsVersion ${t.semanticsVersion}  precision ${t.precision} (${Object.keys(PRECISIONS).find((k) => PRECISIONS[k as Precision] === t.precision)})  stepCount ${t.stepCount}`,
    `  weightsRoot ${t.weightsRoot}`,
    `  programRoot ${t.programRoot}`,
    `  commitment  ${t.commitment}`,
    `  τ_out   abs ${t.tauOutAbs} (${t.human.tauOutAbs})  rel ${t.tauOutRel} (${t.human.tauOutRel})`,
    `  τ_major abs ${t.tauMajorAbs} (${t.human.tauMajorAbs})  rel ${t.tauMajorRel} (${t.human.tauMajorRel})`,
  ];
}

export interface RegisterOptions extends GlobalOptions {
  fee: string;
  tiers: string;
  uri?: string[];
  resolver?: string;
  owner?: string;
  inputShape?: string;
  outputShape?: string;
  commit?: boolean;
  /** Replace the terms of a model this account owns (fee, tiers, shapes, URIs, resolver). */
  update?: boolean;
  /** Seeded held inputs of the OPTIMISTIC check's calibration. */
  inputs?: string;
  /** Representative held inputs of the OPTIMISTIC check's calibration. */
  calibrationInput?: string[];
  /** The inline output cap of the OPTIMISTIC check. */
  maxInlineOutput?: string;
}

/**
 * OPTIMISTIC needs the model check's verdict (every node disputable, every step proven on-chain, a static input shape, an inline
 * output) and its calibrated terms: run before anything touches the chain, so a refusal costs nothing.
 */
async function optimisticCheck(file: string, o: RegisterOptions): Promise<CheckReport> {
  const progress = new Progress(o.json === true);
  const shape = o.inputShape === undefined ? undefined : parseShape(o.inputShape, "--input-shape");
  const report = await progress.step("checking the model for OPTIMISTIC (`oracle model check`) and calibrating τ_out", () =>
    checkModel(file, { ...(shape === undefined ? {} : { inputShape: shape }), ...(o.calibrationInput === undefined ? {} : { inputFiles: o.calibrationInput }), seeded: count(o.inputs, "--inputs", 8), maxInlineOutputBytes: count(o.maxInlineOutput, "--max-inline-output", DEFAULT_INLINE_OUTPUT_CAP) }),
  );
  const v = report.verdicts.OPTIMISTIC;
  if (!v.allowed) {
    const blocking = report.operators.filter((r) => r.unsupported > 0 || (r.onchain !== null && r.onchain < r.nodes - r.blocked)).map((r) => r.opType);
    throw cliError(
      "MODEL_NOT_DISPUTABLE",
      `${file} cannot be offered in the OPTIMISTIC tier: ${(v.blocking ?? v.reasons).join("; ")}. Register it with --tiers none (or zk where the ZK compiler takes it); \`${oracleCommand()} model check ${file}\` shows the details`,
      { modelHash: report.modelHash, blockingOperators: blocking, reasons: v.reasons },
    );
  }
  return report;
}

export async function modelRegister(file: string, o: RegisterOptions): Promise<void> {
  const wantsOptimistic = parseTiers(o.tiers).includes(Tier.OPTIMISTIC);
  const fileInfo = onnxFileInfo(file);
  // Several inputs or outputs (recurrent state, a sample-rate scalar, input_ids + attention_mask): served in
  // NONE and OPTIMISTIC (a dispute proves bundle members), never ZK (a proof checks one tensor in and one out).
  const several = fileInfo.inputs.length > 1 || fileInfo.outputs.length > 1;
  if (several) {
    const offered = parseTiers(o.tiers).filter((t) => t === Tier.ZK);
    if (offered.length > 0) {
      throw cliError(
        "MODEL_NOT_DISPUTABLE",
        `${file} has ${fileInfo.inputs.length} inputs and ${fileInfo.outputs.length} outputs: a model with several is served in the NONE and OPTIMISTIC tiers (a ZK proof checks one input tensor and one output); register it with --tiers none or none,optimistic`,
        { inputs: fileInfo.inputs.map((x) => x.name), outputs: fileInfo.outputs.map((x) => x.name), refused: offered.map((t) => Tier[t]) },
      );
    }
    if (o.inputShape !== undefined || o.outputShape !== undefined) {
      throw cliError("CONFIG_INVALID", `${file} has several inputs or outputs: their shapes are read from the file (--input-shape and --output-shape apply to one-input, one-output models)`);
    }
  }
  const check = wantsOptimistic && o.commit !== false ? await optimisticCheck(file, o) : undefined;
  const ctx = await context(o);
  try {
    const progress = new Progress(ctx.json);
    const wallet = ctx.wallet();
    const info = onnxFileInfo(file);
    const tiers = parseTiers(o.tiers);
    let fee: bigint;
    try {
      fee = parseEther(o.fee);
    } catch {
      throw cliError("CONFIG_INVALID", `--fee takes an ETH amount such as 0.002; got ${JSON.stringify(o.fee)}`);
    }
    const input = { dtype: info.input.dtype, shape: o.inputShape === undefined ? info.input.shape : parseShape(o.inputShape, "--input-shape") };
    const outputSpec = { dtype: info.output.dtype, shape: o.outputShape === undefined ? info.output.shape : parseShape(o.outputShape, "--output-shape") };
    if (input.shape.length !== info.input.shape.length) throw cliError("CONFIG_INVALID", `--input-shape has rank ${input.shape.length}; the model's input has rank ${info.input.shape.length}`);
    const resolver = address(o.resolver ?? ctx.deployment.resolver ?? "", "--resolver");
    const uris = o.uri !== undefined && o.uri.length > 0 ? o.uri : [pathToFileURL(resolve(file)).href];
    const registry = ModelRegistry__factory.connect(ctx.deployment.registry, wallet);
    const registered = await registry.isRegistered(info.modelHash);
    if (registered && o.update !== true) {
      const current = await registry.model(info.modelHash);
      throw cliError(
        "CONFIG_INVALID",
        `model ${info.modelHash} is already registered (owner ${current.owner}): to change its fee, tiers, shapes, URIs or resolver, run the same command with --update as its owner (\`${oracleCommand()} model register ${file} --update --input-shape ... --key <owner key>\`)`,
        { modelHash: info.modelHash, owner: current.owner },
      );
    }
    if (!registered && o.update === true) throw cliError("MODEL_NOT_FOUND", `model ${info.modelHash} is not registered yet: drop --update to register it`, { modelHash: info.modelHash });
    if (registered) {
      const owner = (await registry.model(info.modelHash)).owner;
      if (owner.toLowerCase() !== wallet.address.toLowerCase()) throw cliError("CONFIG_INVALID", `model ${info.modelHash} belongs to ${owner}; only its owner can --update it (this key is ${wallet.address})`, { modelHash: info.modelHash, owner });
    }
    let commitmentRoot: `0x${string}` | undefined;
    if (o.commit !== false && !several) {
      const refShape = input.shape.every((d) => d > 0) ? input.shape : undefined;
      const c = await progress.step("computing the model commitment", () => commitmentOf(file, info, refShape));
      commitmentRoot = c.root;
      if (c.root === undefined) progress.info(`note: registering without a commitment root (${c.reason})`);
    }
    // A dispute over an OPTIMISTIC result is settled against the commitment: without one, no wrong result could be proven.
    // (Several inputs or outputs: the v1 commitment takes one input; the canonical terms set below are what the game reads.)
    if (commitmentRoot === undefined && tiers.includes(Tier.OPTIMISTIC) && !(several && check?.canonicalTerms != null)) {
      throw cliError(
        "CONFIG_INVALID",
        `the OPTIMISTIC tier needs a commitment root (a dispute proves a wrong result against it), and this registration has none${o.commit === false ? " (--no-commit)" : ""}: offer --tiers none${o.commit === false ? ", or drop --no-commit" : ""}`,
        { modelHash: info.modelHash },
      );
    }
    const owner = o.owner === undefined ? wallet.address : address(o.owner, "--owner");
    await registerModel(registry, { modelHash: info.modelHash, owner, fee, tiers, resolver, ...(commitmentRoot === undefined ? {} : { commitmentRoot }), input, output: outputSpec, ...(several ? { named: { inputs: info.inputs, outputs: info.outputs } } : {}), uris, update: registered }, progress);
    // The FraudGame reads the model's canonical terms in every dispute (without them a challenge reverts, so no wrong
    // result could be disputed): the owner sets the calibrated ones now, once.
    if (check?.canonicalTerms != null && !(await registry.hasCanonicalTerms(info.modelHash))) {
      const { human, ...terms } = check.canonicalTerms;
      if (owner.toLowerCase() === wallet.address.toLowerCase()) {
        await send(`setting the canonical terms of ${info.modelHash.slice(0, 10)}… (set once: program commitment, τ_out ${human.tauOutAbs})`, () => registry.setCanonicalTerms(info.modelHash, terms), progress);
      } else {
        progress.info(`note: the owner ${owner} must set the model's canonical terms (setCanonicalTerms, printed below) before its OPTIMISTIC results can be disputed through the FraudGame`);
      }
    }
    const client = await OracleClient.connect({ oracle: ctx.deployment.oracle, registry: ctx.deployment.registry, runner: ctx.provider });
    const m = await client.model(info.modelHash);
    // With OPTIMISTIC the JSON carries the `model check` report the gate ran (one check serves both: no second calibration).
    output(ctx.json, { ...json(m), ...(check === undefined ? {} : { canonicalTerms: check.canonicalTerms, check }) }, () => [registered ? "updated:" : "registered:", ...modelLines(m), ...(check === undefined ? [] : termsLines(check))]);
  } finally {
    ctx.close();
  }
}

export interface AcceptTokenOptions extends GlobalOptions {
  ownerFee: string;
  minWorkerFee: string;
  remove?: boolean;
}

/** `oracle model accept-token <model> <token>`: the model's owner accepts an ERC-20 token for its fees
 * (IModelRegistry.setTokenTerms; docs/FEATURES.md, "ERC-20 fees"), or with --remove stops accepting it.
 * Fees are in the token's smallest units. */
export async function modelAcceptToken(target: string, tokenArg: string, o: AcceptTokenOptions): Promise<void> {
  const ctx = await context(o);
  try {
    const modelHash = await resolveModel(target, ctx);
    const token = address(tokenArg, "token");
    const units = (v: string, flag: string): bigint => {
      if (!/^\d+$/.test(v)) throw cliError("CONFIG_INVALID", `${flag} takes a whole number of the token's smallest units; got ${JSON.stringify(v)}`);
      return BigInt(v);
    };
    const terms = o.remove === true
      ? { accepted: false, ownerFee: 0n, minWorkerFee: 0n }
      : { accepted: true, ownerFee: units(o.ownerFee, "--owner-fee"), minWorkerFee: units(o.minWorkerFee, "--min-worker-fee") };
    const registry = ModelRegistry__factory.connect(ctx.deployment.registry, ctx.wallet());
    const progress = new Progress(ctx.json);
    await send(`${terms.accepted ? "accepting" : "removing"} token ${token} for model ${modelHash}`, () => registry.setTokenTerms(modelHash, token, terms), progress);
    output(ctx.json, { modelHash, token, ...terms }, () => [
      terms.accepted
        ? `model ${modelHash} accepts ${token}: owner fee ${terms.ownerFee}, minimum worker fee ${terms.minWorkerFee} (token units); requests: ${oracleCommand()} request --token ${token}`
        : `model ${modelHash} no longer accepts ${token} (requests already made keep their terms)`,
    ]);
  } finally {
    ctx.close();
  }
}
