/**
 * Model registration, shared by `oracle deploy`, `oracle dev` and `oracle model`: an ONNX file's hash, specs and
 * commitment root read from the file itself, and its registration in the ModelRegistry. The contracts are
 * deployed by the one deployment procedure, protocol/deployment.ts.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ZeroAddress } from "ethers";
import {
  commitModel,
  decodeOnnx,
  DEFAULT_MAX_TENSOR_ELEMENTS,
  modelShapeProblems,
  isError,
  dtypeCode,
  dtypeFromCode,
  type TensorSpec,
  canonicalNames,
  MAX_BUNDLE_TENSORS,
  Tier,
  type Hex,
} from "../protocol/index.js";
import type { ModelRegistry } from "../types/ethers-contracts/index.js";
import { cliError, send, type Progress } from "./common.js";

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
