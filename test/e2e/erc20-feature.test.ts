/**
 * demo:features `erc20` (scripts/features/erc20.ts) on the in-process stack (tier NONE, 3 workers, the real
 * relayer and ONNX workers): a request paid in a permit token through TokenFeeDApp is answered, every party
 * is paid in the token, and the relayer's dashboard names the request's fee token.
 */
import { describe, it, expect } from "vitest";
import { createLogger, Tier } from "../../protocol/index.js";
import { startLocalStack } from "../../stack/local-stack.js";
import { erc20 } from "../../scripts/features/erc20.js";

describe("e2e: ERC-20 fees through the relayer and workers", () => {
  it("test_erc20Feature_permitRequest_answeredAndPaidInToken", async () => {
    const stack = await startLocalStack({ tier: Tier.NONE, workers: 3, logger: createLogger("erc20-e2e", { level: "error" }) });
    try {
      const report = await erc20.run(stack, () => {});
      expect(report.dashboardShowsToken).toBe(true);
      expect(report.delivered).toBe(true);
      expect((report.output as number[]).length).toBe(2);
    } finally {
      await stack.close();
    }
  }, 180_000);
});
