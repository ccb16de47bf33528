/** Shared by the fraud-proof tests: the verifier contracts, honest traces of the real models, and the one challenge helper. */
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";
import { commitModel, exposeTraceOutputs, type ModelCommitment } from "../../protocol/commitment.js";
import { hashTensor, type Tensor } from "../../protocol/tensor.js";
import type { Hex } from "../../protocol/types.js";
import { seededRandom } from "../../protocol/random.js";
import { fromOrtTensor } from "../../worker/runner.js";
import { copy } from "../challenger/fixtures.js";
import { bindTrace, openChallenge } from "../../challenger/dispute.js";
import type { LogLike } from "../../protocol/batch.js";

export const MNIST_MODEL_PATH = "models/mnist-mlp.onnx";
export const MNIST_INPUT_SHAPE = [1, 7, 7];

let mnist: Promise<ModelCommitment> | undefined;
export function mnistCommitment(): Promise<ModelCommitment> {
  mnist ??= commitModel(readFileSync(MNIST_MODEL_PATH), { inputShape: MNIST_INPUT_SHAPE });
  return mnist;
}

/** A seeded int8 [1, 7, 7] input in [0, 127] (the quantized MNIST input range). */
export function mnistInput(seed = 7): Tensor {
  const random = seededRandom(seed);
  return { dtype: "int8", shape: [...MNIST_INPUT_SHAPE], data: Int8Array.from({ length: 49 }, () => Math.floor(random() * 128)) };
}

/** Honest trace of any committed model from onnxruntime-node, every operator output exposed. */
export async function modelTrace(modelPath: string, input: Tensor): Promise<Tensor[]> {
  const { bytes, graph } = exposeTraceOutputs(readFileSync(modelPath));
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
  try {
    const feed = new ort.Tensor(input.dtype as "int8", input.data as Int8Array, input.shape);
    const out = await session.run({ [graph.input.name]: feed }, graph.traceNames);
    return graph.traceNames.map((n) => copy(fromOrtTensor(out[n]!)));
  } finally {
    await session.release();
  }
}

/** Deploys the one-step verifier and its three operator-family contracts. */
export async function deployVerifier(ethers: any): Promise<any> {
  const linear = await ethers.deployContract("LinearOps", []);
  const pointwise = await ethers.deployContract("PointwiseOps", []);
  const exact = await ethers.deployContract("ExactOps", []);
  return ethers.deployContract("OneStepVerifier", [await linear.getAddress(), await pointwise.getAddress(), await exact.getAddress()]);
}

export function inputHash(input: Tensor): Hex {
  return hashTensor(input) as Hex;
}

/** Opens (or joins) a dispute through the challenger's one helper (challenger/dispute.ts openChallenge). */
export async function challengeResult(oracle: any, challenger: any, requestId: string, submitReceipt: { logs: readonly LogLike[] }, bond: bigint) {
  return openChallenge(oracle.connect(challenger), await oracle.getAddress(), requestId, submitReceipt.logs, bond);
}

/** Binds the disputed result's traceRoot in a FraudProofResolver (challenger/dispute.ts bindTrace). */
export async function bindResultTrace(fraud: any, oracle: any, requestId: string, submitReceipt: { logs: readonly LogLike[] }) {
  return (await bindTrace(fraud, await oracle.getAddress(), requestId, submitReceipt.logs)).wait();
}
