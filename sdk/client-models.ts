/** OracleClient's (client.ts) connection to the oracle and registry: model terms, fee quotes, input encoding. */
import type { ContractRunner, Provider, Signer } from "ethers";
import { IInferenceOracle__factory, IModelRegistry__factory, type IInferenceOracle, type IModelRegistry } from "../protocol/contracts.js";
import { dtypeFromCode, encodeTensor, decodeTensor, type Tensor, type TensorSpec } from "../protocol/tensor.js";
import { encodeBundleFor, hashBundleEncoded, bundleEntries } from "../protocol/bundle.js";
import { Tier, type Hex } from "../protocol/types.js";
import { chainError, OracleSdkError } from "./errors.js";
import { fitToSpec } from "./inputs.js";
import { checkHash, decodeBundleChecked, decodeInput } from "./client-checks.js";
import { DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_OUTPUT_TIMEOUT_MS, type FeeQuote, type ModelDetails, type OracleClientOptions } from "./client-types.js";


export abstract class OracleClientModels {
  readonly oracle: IInferenceOracle;
  readonly registry: IModelRegistry;
  readonly provider: Provider;
  readonly relayerUrl: string | undefined;
  protected readonly runner: Signer | Provider;
  protected readonly pollIntervalMs: number;
  protected readonly maxOutputBytes: number;
  protected readonly outputTimeoutMs: number;
  protected readonly requestBlocks = new Map<string, number>();

  protected constructor(options: OracleClientOptions & { registry: string; provider: Provider }) {
    this.oracle = IInferenceOracle__factory.connect(options.oracle, options.runner as ContractRunner);
    this.registry = IModelRegistry__factory.connect(options.registry, options.runner as ContractRunner);
    this.provider = options.provider;
    this.runner = options.runner;
    this.relayerUrl = options.relayerUrl?.replace(/\/+$/, "");
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.outputTimeoutMs = options.outputTimeoutMs ?? DEFAULT_OUTPUT_TIMEOUT_MS;
  }

  /** The model's on-chain terms and specs. MODEL_NOT_FOUND when unregistered. */
  async model(modelHash: string): Promise<ModelDetails> {
    const hash = checkHash(modelHash);
    let info: Awaited<ReturnType<IModelRegistry["model"]>>;
    let io: Awaited<ReturnType<IModelRegistry["modelIO"]>>;
    try {
      if (!(await this.registry.isRegistered(hash))) throw new OracleSdkError("MODEL_NOT_FOUND", `model ${hash} is not registered`, { details: { modelHash: hash } });
      [info, io] = await Promise.all([this.registry.model(hash), this.registry.modelIO(hash)]);
    } catch (error) {
      throw chainError("reading the model", error);
    }
    const spec = (s: { dtype: bigint; shape: bigint[] }, what: string): TensorSpec => {
      const dtype = dtypeFromCode(Number(s.dtype));
      if (dtype === undefined) throw new OracleSdkError("MODEL_NOT_FOUND", `model ${hash} declares an unknown ${what} dtype code ${s.dtype}`);
      return { dtype, shape: s.shape.map(Number) };
    };
    const mask = Number(info.tiers);
    return {
      modelHash: hash,
      owner: info.owner,
      fee: info.fee,
      tiers: [Tier.NONE, Tier.OPTIMISTIC, Tier.ZK].filter((t) => (mask >> t) & 1),
      active: info.active,
      resolver: info.resolver,
      zkVerifier: info.zkVerifier,
      commitmentRoot: info.commitmentRoot as Hex,
      input: spec(info.input, "input"),
      output: spec(info.output, "output"),
      inputs: io[0].map((s) => ({ name: s.name, ...spec(s, `input ${s.name}`) })),
      outputs: io[1].map((s) => ({ name: s.name, ...spec(s, `output ${s.name}`) })),
      uris: [...info.uris],
    };
  }

  /** The fee a request for this model needs at least (model owner's fee + the oracle's minimum worker
   * fee + the callback's gas, which is paid to whoever executes the callback). */
  async quote(modelHash: string, callbackGasLimit = 0): Promise<FeeQuote> {
    const model = await this.model(modelHash);
    let params: Awaited<ReturnType<IInferenceOracle["params"]>>;
    let baseFee: bigint;
    try {
      params = await this.oracle.params();
      baseFee = ((await this.provider.getBlock("latest"))?.baseFeePerGas ?? 0n) * 5n / 4n;
    } catch (error) {
      throw chainError("reading the oracle's parameters", error);
    }
    const price = baseFee > params.minGasPrice ? baseFee : params.minGasPrice;
    const callbackFee = BigInt(callbackGasLimit) * price;
    return { ownerFee: model.fee, minWorkerFee: params.minWorkerFee, callbackFee, minimum: model.fee + params.minWorkerFee + callbackFee };
  }

  /** Encodes an input for the model (fitted to its spec); returns the bytes and their tensor hash. */
  async encodeInput(modelHash: string, input: Tensor | Uint8Array): Promise<{ bytes: Uint8Array; inputHash: Hex; tensor: Tensor }> {
    const model = await this.model(modelHash);
    if (model.inputs.length > 1) {
      if (!(input instanceof Uint8Array)) {
        throw new OracleSdkError("INPUT_INVALID", `model ${model.modelHash} has ${model.inputs.length} inputs (${model.inputs.map((s) => s.name).join(", ")}): give them by name (inputs: { name: tensor })`, {
          details: { inputs: model.inputs.map((s) => s.name) },
        });
      }
      const { bytes, inputHash } = await this.encodeInputs(model.modelHash, Object.fromEntries(decodeBundleChecked(input, model.inputs)));
      return { bytes, inputHash, tensor: decodeTensor(bundleEntries(bytes)[0]!.encoded) };
    }
    const tensor = fitToSpec(input instanceof Uint8Array ? decodeInput(input) : input, model.input);
    const bytes = encodeTensor(tensor);
    return { bytes, inputHash: hashBundleEncoded(bytes) as Hex, tensor };
  }

  /**
   * Encodes inputs by name for the model: each fitted to its named spec, then one bundle (a bare tensor
   * for a one-input model). INPUT_INVALID names a missing, unexpected or misnamed input, or the input
   * whose dtype or shape does not fit.
   */
  async encodeInputs(modelHash: string, inputs: Record<string, Tensor>): Promise<{ bytes: Uint8Array; inputHash: Hex; tensors: Map<string, Tensor> }> {
    const model = await this.model(modelHash);
    const specs = model.inputs;
    const given = Object.keys(inputs);
    // One input: its name is optional (a model registered without names has the name "").
    const byName = specs.length === 1 && given.length === 1 ? { [specs[0]!.name]: inputs[given[0]!]! } : inputs;
    if (specs.length === 1 && given.length === 1 && specs[0]!.name !== "" && given[0] !== specs[0]!.name) {
      throw new OracleSdkError("INPUT_INVALID", `model ${model.modelHash} has one input, "${specs[0]!.name}"; got "${given[0]}"`, { details: { expected: [specs[0]!.name], actual: given } });
    }
    const names = specs.map((s) => s.name);
    const missing = names.filter((n) => !(n in byName));
    const unexpected = Object.keys(byName).filter((n) => !names.includes(n));
    if (missing.length > 0 || unexpected.length > 0) {
      const parts = [
        ...(unexpected.length > 0 ? [`unexpected input${unexpected.length > 1 ? "s" : ""} ${unexpected.map((n) => `"${n}"`).join(", ")}`] : []),
        ...(missing.length > 0 ? [`missing input${missing.length > 1 ? "s" : ""} ${missing.map((n) => `"${n}"`).join(", ")}`] : []),
      ];
      throw new OracleSdkError("INPUT_INVALID", `${parts.join("; ")}; model ${model.modelHash} takes ${names.map((n) => `"${n}"`).join(", ")}`, { details: { expected: names, missing, unexpected } });
    }
    const tensors = new Map(specs.map((spec) => [spec.name, fitToSpec(byName[spec.name]!, spec, `input "${spec.name}"`)]));
    const bytes = encodeBundleFor(tensors, specs);
    return { bytes, inputHash: hashBundleEncoded(bytes) as Hex, tensors };
  }
}
