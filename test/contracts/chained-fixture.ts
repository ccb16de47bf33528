/**
 * Fixture of the chained-request tests (contracts/chained/ChainedInference.sol): the oracle deployment of
 * helpers.ts, two more models whose registered I/O types chain (a preprocessing model float32 [1,1,28,28]
 * -> int8 [1,7,7], the MNIST MLP int8 [1,7,7] -> int8 [1,10]) and one that does not chain after the
 * preprocessing (float32 [1,2] input), ChainedInference and the example ChainedDigitDApp.
 */
import { expect } from "vitest";
import { encodeTensor, hashEncoded, sha256, bytesToHex, type Hex, packBatch } from "../../protocol/index.js";
import { batchSubmission, deploy, events, modelInfo, send, type Connection, type Fx } from "./helpers.js";

export const PRE_HASH = bytesToHex(sha256(Buffer.from("mnist-preprocess.onnx"))) as Hex;
export const MNIST_HASH = bytesToHex(sha256(Buffer.from("mnist-mlp.onnx"))) as Hex;
export const OTHER_HASH = bytesToHex(sha256(Buffer.from("float-pair.onnx"))) as Hex;
/** int8 [1,7,7] -> int8 [1,7,7]: any number of it chains between the preprocessing and the MLP. */
export const SMOOTH_HASH = bytesToHex(sha256(Buffer.from("mnist-smooth.onnx"))) as Hex;
export const ChainStatus = { None: 0, Running: 1, Ready: 2, Completed: 3, Ended: 4 } as const;
export const EndReason = { StepRefunded: 0, DeadlinePassed: 1, StepRequestFailed: 2, CallbackLost: 3 } as const;
export const STEP_FEE = 10n ** 16n;

export const PICTURE = encodeTensor({ dtype: "float32", shape: [1, 1, 28, 28], data: Float32Array.from({ length: 784 }, (_, i) => (i % 28 > 10 && i % 28 < 16 ? 0.9 : 0)) });
export const SMALL = encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: Int8Array.from({ length: 49 }, (_, i) => (i % 7 === 3 ? 100 : 0)) });
export const SMALL_HASH = hashEncoded(SMALL) as Hex;
/** Logits with digit 7 highest. */
export const LOGITS = encodeTensor({ dtype: "int8", shape: [1, 10], data: Int8Array.from([1, -3, 5, 2, 0, -9, 4, 60, 7, 3]) });
export const LOGITS_HASH = hashEncoded(LOGITS) as Hex;

export async function deployChained(conn: Connection) {
  const fx = await deploy(conn);
  const resolver = await fx.resolver.getAddress();
  const reg = (hash: string, input: { dtype: number; shape: number[] }, output: { dtype: number; shape: number[] }) =>
    send(fx.registry.connect(fx.modelOwner).registerModel(hash, modelInfo({ resolver, tiers: 3, input, output, uris: ["ipfs://m"] })));
  await reg(PRE_HASH, { dtype: 1, shape: [1, 1, 28, 28] }, { dtype: 3, shape: [1, 7, 7] });
  await reg(MNIST_HASH, { dtype: 3, shape: [1, 7, 7] }, { dtype: 3, shape: [1, 10] });
  await reg(SMOOTH_HASH, { dtype: 3, shape: [1, 7, 7] }, { dtype: 3, shape: [1, 7, 7] });
  await reg(OTHER_HASH, { dtype: 1, shape: [1, 2] }, { dtype: 1, shape: [1, 2] });
  // The deployment's own ChainedInference (protocol/deployment.ts places it).
  const chained: any = fx.chained;
  const chainedAddr: string = await chained.getAddress();
  const dappNone: any = await fx.ethers.deployContract("ChainedDigitDApp", [chainedAddr, PRE_HASH, MNIST_HASH, 0]);
  const dappOpt: any = await fx.ethers.deployContract("ChainedDigitDApp", [chainedAddr, PRE_HASH, MNIST_HASH, 1]);
  return { ...fx, chained, chainedAddr, dappNone, dappOpt };
}
export type ChainFx = Awaited<ReturnType<typeof deployChained>>;

export async function latest(fx: Fx): Promise<bigint> {
  return BigInt((await fx.ethers.provider.getBlock("latest"))!.timestamp);
}

/** A ChainRequest for `steps` ([modelHash, tier, fee]) on PICTURE. */
export async function chainRequest(fx: Fx, steps: Array<[string, number, bigint]>, o: { deadline?: bigint; consumerGas?: number; blobBaseURI?: string; input?: Uint8Array } = {}) {
  return {
    steps: steps.map(([modelHash, tier, fee]) => ({ modelHash, tier, fee })),
    inputHash: "0x" + "00".repeat(32),
    input: o.input ?? PICTURE,
    inputURI: "",
    deadline: o.deadline ?? (await latest(fx)) + 86_400n,
    consumerGas: o.consumerGas ?? 0,
    blobBaseURI: o.blobBaseURI ?? "",
  };
}

/** Requests a chain from `from` (an EOA); returns its id and step 0's request id. */
export async function requestChain(fx: ChainFx, steps: Array<[string, number, bigint]>, o: Parameters<typeof chainRequest>[2] & { from?: any; value?: bigint } = {}) {
  const req = await chainRequest(fx, steps, o);
  const value = o.value ?? steps.reduce((a, s) => a + s[2], 0n);
  const receipt = await send(fx.chained.connect(o.from ?? fx.requester).requestChain(req, { value }));
  const [ev] = events(receipt, fx.chained, "ChainStepRequested");
  const [rq] = events(receipt, fx.chained, "ChainRequested");
  return { chainId: rq!.args.chainId as bigint, requestId: ev!.args.requestId as string, receipt };
}

/** Worker `w` submits `output` for `id` (one-item batch); returns the receipt. */
export async function answer(fx: Fx, id: string, output: Uint8Array | string, w = 0, o: { outputHash?: string } = {}) {
  const outputHash = o.outputHash ?? (typeof output === "string" ? undefined : hashEncoded(output));
  const sub = await batchSubmission(fx, [id], fx.signers[w]!, { output, ...(outputHash === undefined ? {} : { outputHash }) });
  return send(fx.oracle.connect(fx.relayer).submitBatch(...packBatch(sub), { gasLimit: 5_000_000 }));
}

/** The chain's current request id, after checking the chain's status. */
export async function current(fx: ChainFx, chainId: bigint, status: number): Promise<string> {
  const v = await fx.chained.getChain(chainId);
  expect(v.status, `chain ${chainId} status`).toBe(BigInt(status));
  return v.requestId as string;
}
