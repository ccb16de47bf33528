/**
 * Chained requests end to end on the local stack (in-process EVM, the relayer, three real workers running
 * onnxruntime, the in-process queue): the demo:features `chained` module (scripts/features/chained.ts) runs
 * a picture through the MNIST preprocessing model and then the MNIST MLP in one chained request, the SDK
 * advancing the chain, and checks on-chain that the dApp received B(A(picture)) as onnxruntime-node
 * computes it here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, Tier } from "../../protocol/index.js";
import { startLocalStack, type LocalStack } from "../../scripts/local-stack.js";
import { chained } from "../../scripts/features/chained.js";

describe("chained requests, end to end (NONE tier)", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("oracle", { level: "error" }) });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_chain_preprocessThenMnist_dappReceivesBofA_matchesLocalOnnxruntime", async () => {
    const lines: string[] = [];
    const report = await chained.run(stack, (l) => lines.push(l));
    expect(report.delivered, lines.join("\n")).toBe(true);
    expect(report.matchesLocal).toBe(true);
    expect(report.intermediateMatchesLocal).toBe(true);
    expect(report.steps).toBe(2);
    expect(report.digit).toBe(report.localDigit);
    expect((report.gas as { advance: number[] }).advance).toHaveLength(1);
  }, 180_000);
});
