/**
 * A real float model registered for NONE + OPTIMISTIC through `oracle model register --json`, and what
 * its gate's `model check` report (returned in the command's JSON) must show for a fully disputable model:
 * one check and one calibration serve both the check's assertions and the registration.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { JsonRpcProvider } from "ethers";
import { expect } from "vitest";
import { commitProgram, lowerModel } from "../../canonical/index.js";
import type { CheckReport } from "../../cli/check.js";
import { LEAF_GAS_LIMIT } from "../../cli/leaf-gas.js";
import { ModelRegistry__factory } from "../../types/ethers-contracts/index.js";
import type { RegisterChain } from "./chain-fixture.js";
import { lastJson, oracle } from "./helpers.js";

export const sha256File = (file: string): string => `0x${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

/** Every node lowers canonically and every step verifies through StepVerifier under the leaf gas limit; τ_out calibrated; OPTIMISTIC allowed. */
export function expectFullyDisputable(check: CheckReport, nodes: number, covered: string[]): void {
  expect(check.summary).toMatchObject({ nodes, disputable: { canonical: nodes, onchain: nodes }, blockers: [] });
  expect(check.onchain!.failures).toEqual([]);
  for (const o of check.operators) {
    expect(o.unsupported + o.blocked, o.opType).toBe(0);
    if (o.steps > 0) expect(o.onchain, o.opType).toBe(o.nodes);
  }
  for (const op of covered) expect(check.operators.find((o) => o.opType === op)?.onchain, op).toBeGreaterThan(0);
  expect(check.summary.worstLeafGas!).toBeLessThan(LEAF_GAS_LIMIT);
  expect(check.summary.tauOut).not.toBeNull();
  expect(check.verdicts.NONE.allowed).toBe(true);
  expect(check.verdicts.OPTIMISTIC.allowed, check.verdicts.OPTIMISTIC.reasons.join("; ")).toBe(true);
}

/**
 * Registers `file` for NONE + OPTIMISTIC with account #1 (`args`: shapes, `--inputs n`), then reads the chain: the
 * FraudGame is the resolver and the CanonicalTerms set on-chain are the program's commitment recomputed here, with
 * a nonzero τ_out (a float model). Returns the gate's check report.
 */
export async function registerOptimistic(chain: RegisterChain, deployment: string, file: string, args: string[], timeoutMs: number): Promise<CheckReport> {
  const r = await oracle(["model", "register", file, "--tiers", "none,optimistic", ...args, "--json", "--deployment", deployment, "--key", chain.keyOf(1)], {}, timeoutMs);
  expect(r.code, r.stderr).toBe(0);
  const out = lastJson<{ tiers: string[]; canonicalTerms: { commitment: string; stepCount: number; tauOutAbs: string }; check: CheckReport }>(r);
  expect(out.tiers).toEqual(["NONE", "OPTIMISTIC"]);
  const program = lowerModel(readFileSync(file), { inputShape: out.check.input.shape });
  expect(out.canonicalTerms).toMatchObject({ commitment: commitProgram(program, "fp32").commitment, stepCount: program.steps.length });
  expect(out.canonicalTerms.tauOutAbs).not.toBe("0x0000000000000000");
  const record = JSON.parse(readFileSync(deployment, "utf8")) as { registry: string; fraudGame: string };
  const provider = new JsonRpcProvider(chain.url);
  try {
    const registry = ModelRegistry__factory.connect(record.registry, provider);
    const modelHash = sha256File(file);
    expect((await registry.model(modelHash)).resolver).toBe(record.fraudGame);
    const onChain = await registry.canonicalTerms(modelHash);
    expect(onChain.commitment).toBe(out.canonicalTerms.commitment);
    expect(Number(onChain.stepCount)).toBe(program.steps.length);
    expect(onChain.tauOutAbs).toBe(BigInt(out.canonicalTerms.tauOutAbs));
  } finally {
    provider.destroy();
  }
  return out.check;
}
