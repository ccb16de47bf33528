/**
 * How the CLI words a decoded output (cli/request.ts printOutput): a class and its label only where
 * the model card says the output is a classification, a low-confidence note where its probability is
 * low, and for an unknown model the largest value's position, not "answer class 42".
 */
import { describe, expect, it } from "vitest";
import { printOutput } from "../../cli/request.js";
import { describeOutput, MNIST_MLP_HASH, PPOCR_CLS_HASH } from "../../sdk/index.js";

const probs = (p: number) => describeOutput({ dtype: "float32", shape: [1, 2], data: Float32Array.from([1 - p, p]) }, PPOCR_CLS_HASH);

describe("printOutput", () => {
  it("a confident classification: the class, its label and its probability, no note", () => {
    const lines = printOutput(probs(0.99), PPOCR_CLS_HASH);
    expect(lines[1]).toBe("answer  class 1 — upside down (180°) (probabilities 0.99)");
    expect(lines.join("\n")).not.toContain("low confidence");
  });

  it("a low probability gets a note saying the model is unsure", () => {
    const lines = printOutput(probs(0.6), PPOCR_CLS_HASH);
    expect(lines[1]).toContain("answer  class 1 — upside down (180°)");
    expect(lines[2]).toBe("note    low confidence (60 %): the model is unsure about this input; the answer is what it computed, not necessarily right");
  });

  it("quantized logits are labelled without a made-up confidence", () => {
    const logits = describeOutput({ dtype: "int8", shape: [1, 10], data: Int8Array.from([1, 2, 3, 4, 5, 6, 7, 60, 8, 9]) }, MNIST_MLP_HASH);
    const lines = printOutput(logits, MNIST_MLP_HASH);
    expect(lines[1]).toBe("answer  class 7 — 7 (logits 60)");
    expect(lines).toHaveLength(2);
  });

  it("an unknown model's output (an embedding, say) is not called a class", () => {
    const unknown = `0x${"12".repeat(32)}`;
    const data = new Float32Array(64).map((_, i) => (i === 42 ? 0.9 : 0.01));
    const lines = printOutput(describeOutput({ dtype: "float32", shape: [1, 64], data }, unknown), unknown);
    expect(lines.join("\n")).not.toContain("answer");
    expect(lines[1]).toBe("top     largest value at index 42 (0.9); no labels are known for this model, so it need not be a class");
  });
});
