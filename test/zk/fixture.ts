/**
 * Shared ZK-tier fixtures: the MNIST demo model and its hidden-16 sibling made zk-ready from the
 * committed files (circuit, phase-2 key from the committed ptau: cached in circuits/build/), real
 * Groth16 proofs, and an oracle deployment (test/contracts/helpers) with the MNIST model registered
 * behind its generated adapter and the ZkDisputeResolver.
 */
import { join } from "node:path";
import { encodeTensor, hashEncoded, type Hex } from "../../protocol/index.js";
import { loadMnist7x7, prepareZkModel, proveInference, type InferenceProof, type ZkModelArtifacts } from "../../circuits/index.js";
import { deploy, modelInfo, type Connection, type Fx } from "../contracts/helpers.js";

export const REPO = join(import.meta.dirname, "..", "..");
export const MNIST_PATH = join(REPO, "models", "mnist-mlp.onnx");
export const H16_PATH = join(REPO, "models", "mnist-mlp-h16.onnx");
export const ANSWER_WITHIN = 3600;

let models: Promise<{ mnist: ZkModelArtifacts; h16: ZkModelArtifacts }> | undefined;

/** Both models' artifacts, built once per process (and cached on disk across runs). */
export function zkModels(): Promise<{ mnist: ZkModelArtifacts; h16: ZkModelArtifacts }> {
  models ??= (async () => ({ mnist: await prepareZkModel(MNIST_PATH), h16: await prepareZkModel(H16_PATH) }))();
  return models;
}

/** Held-out digits as canonical int8 [1, 7, 7] tensors. */
export function digits(n: number, offset = 0): { pixels: Int8Array; label: number; tensor: Buffer; hash: Hex; data: Uint8Array }[] {
  return loadMnist7x7().test.slice(offset, offset + n).map((s) => {
    const tensor = encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: s.pixels });
    return { pixels: s.pixels, label: s.label, tensor, hash: hashEncoded(tensor) as Hex, data: new Uint8Array(s.pixels.buffer, s.pixels.byteOffset, s.pixels.byteLength) };
  });
}

export function outputTensor(outputData: Uint8Array, shape: number[] = [1, 10]): Buffer {
  return encodeTensor({ dtype: "int8", shape, data: new Int8Array(outputData.buffer, outputData.byteOffset, outputData.byteLength) });
}

export async function prove(m: ZkModelArtifacts, data: Uint8Array): Promise<InferenceProof & { output: Buffer; outputHash: Hex }> {
  const p = await proveInference(m.wasmPath, m.zkeyPath, data, m.compiled.outputShape.reduce((a, b) => a * b, 1));
  const output = outputTensor(p.outputData, m.compiled.outputShape);
  return { ...p, output, outputHash: hashEncoded(output) as Hex };
}

export interface ZkFx extends Fx {
  groth16: any;
  adapter: any;
  h16Groth16: any;
  h16Adapter: any;
  zkResolver: any;
  mnistHash: Hex;
  h16Hash: Hex;
}

/**
 * test/contracts/helpers' deployment plus: both models' generated verifiers and adapters (compiled
 * by Hardhat from contracts/zk/), a ZkDisputeResolver, and the MNIST model registered for all three
 * tiers (int8 [1,7,7] -> int8 [1,10]) with its adapter as zkVerifier and the ZkDisputeResolver.
 */
export async function deployZk(conn: Connection): Promise<ZkFx> {
  const fx = await deploy(conn);
  const { ethers, registry } = fx;
  const { mnist, h16 } = await zkModels();
  const groth16: any = await ethers.deployContract("MnistMlpGroth16Verifier");
  const adapter: any = await ethers.deployContract("MnistMlpZkVerifier", [await groth16.getAddress()]);
  const h16Groth16: any = await ethers.deployContract("MnistMlpH16Groth16Verifier");
  const h16Adapter: any = await ethers.deployContract("MnistMlpH16ZkVerifier", [await h16Groth16.getAddress()]);
  const zkResolver: any = await ethers.deployContract("ZkDisputeResolver", [fx.oracleAddr, await registry.getAddress(), ANSWER_WITHIN]);
  for (const c of [adapter, h16Adapter, zkResolver]) await (await registry.setResolverApproval(await c.getAddress(), true)).wait();
  const spec = { input: { dtype: 3, shape: [1, 7, 7] }, output: { dtype: 3, shape: [1, 10] } };
  await (
    await registry.connect(fx.modelOwner).registerModel(mnist.modelHash, modelInfo({
      ...spec, resolver: await zkResolver.getAddress(), zkVerifier: await adapter.getAddress(), uris: ["file://models/mnist-mlp.onnx"],
    }))
  ).wait();
  await (
    await registry.connect(fx.modelOwner).registerModel(h16.modelHash, modelInfo({
      ...spec, resolver: await zkResolver.getAddress(), zkVerifier: await h16Adapter.getAddress(), uris: ["file://models/mnist-mlp-h16.onnx"],
    }))
  ).wait();
  return { ...fx, groth16, adapter, h16Groth16, h16Adapter, zkResolver, mnistHash: mnist.modelHash, h16Hash: h16.modelHash };
}
