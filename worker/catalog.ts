/**
 * Where the worker learns what a model is: its file's URIs and its input and output specs.
 * `RegistryCatalog` reads the on-chain ModelRegistry; `StaticCatalog` serves the models an operator
 * pins in config. Unknown models are MODEL_UNKNOWN (not retryable); RPC failures are retryable.
 */
import { isError as isEthersError, ZeroAddress, type ContractRunner } from "ethers";
import {
  IModelRegistry__factory,
  type IModelRegistry,
  OracleError,
  dtypeFromCode,
  type TensorSpec,
  type NamedTensorSpec,
  type Hex,
} from "../protocol/index.js";
import type { PinnedModel } from "./config.js";

export interface ModelEntry {
  modelHash: Hex;
  /** Where the ONNX file can be fetched, tried in order. */
  uris: string[];
  input: TensorSpec;
  output: TensorSpec;
  /**
   * Every named input and output (registry `modelIO`), for a model with several; absent (or one
   * unnamed entry) for a one-input, one-output model, whose `input` / `output` say it all.
   */
  inputs?: NamedTensorSpec[];
  outputs?: NamedTensorSpec[];
}

/** A model's inputs by name: its named specs, or its one `input` unnamed (""). */
export function inputSpecsOf(entry: ModelEntry): NamedTensorSpec[] {
  return entry.inputs !== undefined && entry.inputs.length > 0 ? entry.inputs : [{ name: "", ...entry.input }];
}

/** A model's outputs by name: its named specs, or its one `output` unnamed (""). */
export function outputSpecsOf(entry: ModelEntry): NamedTensorSpec[] {
  return entry.outputs !== undefined && entry.outputs.length > 0 ? entry.outputs : [{ name: "", ...entry.output }];
}

/** Does the model take or return a bundle (several named tensors)? */
export function isMultiTensor(entry: ModelEntry): boolean {
  return inputSpecsOf(entry).length > 1 || outputSpecsOf(entry).length > 1;
}

export interface ModelCatalog {
  getModel(modelHash: Hex, signal?: AbortSignal): Promise<ModelEntry>;
}

function normalizeHash(modelHash: string): Hex {
  return modelHash.toLowerCase() as Hex;
}

function unknownModel(modelHash: string, why: string, cause?: unknown): OracleError {
  return new OracleError("MODEL_UNKNOWN", `model ${modelHash} ${why}`, { details: { modelHash }, cause });
}

/** Models given in config: an operator serves exactly these. */
export class StaticCatalog implements ModelCatalog {
  private readonly entries = new Map<string, ModelEntry>();

  constructor(entries: readonly (ModelEntry | PinnedModel)[]) {
    for (const e of entries) {
      const entry: ModelEntry = {
        modelHash: normalizeHash(e.modelHash),
        uris: [...e.uris],
        input: { dtype: e.input.dtype, shape: [...e.input.shape] },
        output: { dtype: e.output.dtype, shape: [...e.output.shape] },
        ...("inputs" in e && e.inputs !== undefined ? { inputs: e.inputs.map((s) => ({ ...s, shape: [...s.shape] })) } : {}),
        ...("outputs" in e && e.outputs !== undefined ? { outputs: e.outputs.map((s) => ({ ...s, shape: [...s.shape] })) } : {}),
      };
      this.entries.set(entry.modelHash, entry);
    }
  }

  async getModel(modelHash: Hex): Promise<ModelEntry> {
    const entry = this.entries.get(normalizeHash(modelHash));
    if (entry === undefined) throw unknownModel(modelHash, "is not among the models this worker serves");
    return entry;
  }
}

export interface RegistryCatalogOptions {
  /** ModelRegistry address. */
  registry: string;
  /** An ethers provider (or any ContractRunner that can `call`). */
  provider: ContractRunner;
  /** How long a registry entry is trusted before it is read again (URIs can be updated). Default 5 min. */
  ttlMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** Reads models from the on-chain ModelRegistry through its typechain binding, caching entries. */
export class RegistryCatalog implements ModelCatalog {
  private readonly registry: IModelRegistry;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { entry: ModelEntry; at: number }>();
  private readonly pending = new Map<string, Promise<ModelEntry>>();

  constructor(options: RegistryCatalogOptions) {
    this.registry = IModelRegistry__factory.connect(options.registry, options.provider);
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  async getModel(modelHash: Hex): Promise<ModelEntry> {
    const key = normalizeHash(modelHash);
    const hit = this.cache.get(key);
    if (hit !== undefined && this.now() - hit.at < this.ttlMs) return hit.entry;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.read(key).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async read(modelHash: Hex): Promise<ModelEntry> {
    let info: IModelRegistry.ModelInfoStructOutput;
    let io: [IModelRegistry.NamedTensorSpecStructOutput[], IModelRegistry.NamedTensorSpecStructOutput[]];
    try {
      [info, io] = await Promise.all([this.registry.model(modelHash), this.registry.modelIO(modelHash)]);
    } catch (error) {
      // A revert (RegistryModelNotFound) is an answer; anything else is the RPC's trouble.
      if (isEthersError(error, "CALL_EXCEPTION")) throw unknownModel(modelHash, "is not registered", error);
      throw new OracleError("CHAIN_UNAVAILABLE", `reading model ${modelHash} from the registry failed: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
        details: { modelHash },
      });
    }
    if (info.owner === ZeroAddress) throw unknownModel(modelHash, "is not registered");
    if (!info.active) throw unknownModel(modelHash, "is registered but not active");
    const entry: ModelEntry = {
      modelHash,
      uris: [...info.uris],
      input: specFromChain(modelHash, "input", info.input),
      output: specFromChain(modelHash, "output", info.output),
    };
    if (io[0].length > 1 || io[1].length > 1) {
      entry.inputs = io[0].map((s) => ({ name: s.name, ...specFromChain(modelHash, `input ${s.name}`, s) }));
      entry.outputs = io[1].map((s) => ({ name: s.name, ...specFromChain(modelHash, `output ${s.name}`, s) }));
    }
    this.cache.set(modelHash, { entry, at: this.now() });
    return entry;
  }
}

function specFromChain(modelHash: string, what: string, spec: { dtype: bigint; shape: bigint[] }): TensorSpec {
  const dtype = dtypeFromCode(Number(spec.dtype));
  if (dtype === undefined) throw unknownModel(modelHash, `declares an ${what} dtype code ${spec.dtype} the worker does not support`);
  return { dtype, shape: spec.shape.map((d) => Number(d)) };
}
