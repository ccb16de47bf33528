/**
 * Redundancy end to end on the local stack (in-process EVM, the relayer, three real workers running
 * onnxruntime, the in-process queue): the demo:features `redundancy` module (scripts/features/redundancy.ts)
 * asks k distinct workers for one classification through RedundantInference; the relayer settles each
 * answer, its redundancy attester proves each answer's worker, replaces duplicates from the reserve and
 * delivers. Checked on chain: Agreed, k distinct counted workers, the dApp's output hash equal to
 * onnxruntime-node's here, and the relayer sent the attestations and the delivery itself. The relayer marks
 * the job's requests with one group and each worker serves one request per group (worker/groups.ts): the k
 * answers come from k workers without a duplicate to replace (exactly k answers).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, Tier } from "../../protocol/index.js";
import { startLocalStack, type LocalStack } from "../../stack/local-stack.js";
import { redundancy, runRedundancy } from "../../scripts/features/redundancy.js";

describe("redundancy, end to end (OPTIMISTIC answers, relayer attester)", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("oracle", { level: "error" }) });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("test_redundancy_k2_relayerAttestsAndDelivers_matchesLocalOnnxruntime", async () => {
    const lines: string[] = [];
    const report = await redundancy.run(stack, (l) => lines.push(l));
    expect(report.delivered, lines.join("\n")).toBe(true);
    expect(report.distinctWorkers).toBe(2);
    expect(report.answers).toBe(2);
    expect(report.outputHash).toBe(report.expectedHash);
    const labels = stack.relayer.transactions.map((t) => t.label);
    expect(labels.filter((l) => l === "redundancy-attest").length).toBeGreaterThanOrEqual(2);
    expect(labels).toContain("redundancy-deliver");
  }, 180_000);

  it("test_redundancy_k3_allThreeWorkers_agree", async () => {
    const lines: string[] = [];
    const report = await runRedundancy(stack, (l) => lines.push(l), 3, 3);
    expect(report.delivered, lines.join("\n")).toBe(true);
    expect(report.distinctWorkers).toBe(3);
    expect(report.answers).toBe(3);
    expect(report.status).toBe("Agreed");
  }, 180_000);
});
