import { beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { StepProofBuilder, softFloatToNumber } from "../../challenger/onestep.js";
import { compareElement, operatorKernel } from "../../challenger/checker.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { commitTrace } from "../../protocol/trace.js";
import type { Tensor } from "../../protocol/tensor.js";
import { clsCommitment, clsInput, nodeTrace } from "../challenger/fixtures.js";
import { deployVerifier, inputHash, mnistCommitment, mnistInput, modelTrace, MNIST_MODEL_PATH } from "./helpers.js";

let verifier: any;

beforeAll(async () => {
  const conn = await network.create();
  verifier = await deployVerifier(conn.ethers);
});

interface Case {
  commitment: ModelCommitment;
  input: Tensor;
  tensors: Tensor[];
}

/** Runs the Solidity verifier on element `element` of operator `opIndex` and compares with the TS reference. */
async function agree(c: Case, builder: StepProofBuilder, ctx: object, opIndex: number, element: number) {
  const kernel = operatorKernel(c.commitment, { input: c.input, tensors: c.tensors }, opIndex);
  const op = c.commitment.operators[opIndex]!;
  const claimed = c.tensors[op.outputs[0]!.trace]!.data[element]!;
  const ts = compareElement(kernel, claimed, kernel.element(0, element));
  const proof = builder.step(opIndex, 0, element);
  const v = await verifier.verify(proof, ctx);
  const label = `${op.opType} #${opIndex} element ${element}`;
  expect(v.faulty, label).toBe(!ts.ok);
  expect(v.exact, label).toBe(kernel.exact);
  const value = softFloatToNumber(v.recomputed);
  const bound = softFloatToNumber(v.bound);
  if (kernel.exact) {
    expect(value, label).toBe(Number(ts.recomputed));
  } else {
    // The float64 reference and the 120-bit soft float differ by far less than the bound.
    expect(Math.abs(value - Number(ts.recomputed)), label).toBeLessThanOrEqual(1e-6 * ts.bound);
    expect(Math.abs(bound - ts.bound), label).toBeLessThanOrEqual(1e-9 * ts.bound);
  }
  return { value, bound, gas: 0 };
}

describe("one-step verifier vs the TS reference (golden vectors)", () => {
  it("test_verify_everyOperatorOfCls_agreesWithReference", async () => {
    const commitment = await clsCommitment();
    const input = clsInput();
    const tensors = await nodeTrace(input, { level: "all", threads: 1 });
    const { traceRoot } = commitTrace(tensors);
    const c = { commitment, input, tensors };
    const builder = new StepProofBuilder(commitment, { input, tensors });
    const ctx = { commitmentRoot: commitment.root, inputHash: inputHash(input), traceRoot };
    let checked = 0;
    for (const op of commitment.operators) {
      const n = tensors[op.outputs[0]!.trace]!.data.length;
      // Two elements per operator (an edge, where padding and broadcasting bite, and an interior one).
      const elements = [...new Set([op.index % 2 === 0 ? 0 : n - 1, Math.floor(n / 3) + 1])].filter((e) => e < n);
      for (const e of elements) {
        await agree(c, builder, ctx, op.index, e);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(400);
  }, 600_000);

  it("test_verify_everyOperatorOfMnistMlp_agreesWithReference", async () => {
    const commitment = await mnistCommitment();
    for (const seed of [1, 2, 3]) {
      const input = mnistInput(seed);
      const tensors = await modelTrace(MNIST_MODEL_PATH, input);
      const { traceRoot } = commitTrace(tensors);
      const builder = new StepProofBuilder(commitment, { input, tensors });
      const ctx = { commitmentRoot: commitment.root, inputHash: inputHash(input), traceRoot };
      for (const op of commitment.operators) {
        const n = tensors[op.outputs[0]!.trace]!.data.length;
        for (const e of [...new Set([0, n - 1, Math.floor(n / 2)])]) await agree({ commitment, input, tensors }, builder, ctx, op.index, e);
      }
    }
  });
});
