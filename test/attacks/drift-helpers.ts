/**
 * What the tolerance-drift attacks and the game's end-to-end cheaters share: one canonical step run on a
 * (possibly forged) earlier trace, and the float32 value nearest a target within a bound.
 */
import { runProgram, type Program } from "../../canonical/index.js";
import type { Weight, Tensor } from "../../protocol/index.js";

/** Step j of `program` run canonically on the given (possibly drifted) earlier tensors (step operands fed in as weights). */
export function runStep(program: Program, j: number, tensors: readonly Tensor[], input: Tensor): Tensor {
  const step = program.steps[j]!;
  const extra: Weight[] = [];
  const operands = step.operands.map((o) => {
    if (o.source !== "step") return o;
    extra.push({ name: `step${o.index}`, tensor: tensors[o.index]!, hash: `0x${"00".repeat(32)}` as Weight["hash"] });
    return { source: "weight" as const, index: program.weights.length + extra.length - 1 };
  });
  const sub: Program = { ...program, weights: [...program.weights, ...extra], steps: [{ ...step, index: 0, operands }] };
  return runProgram(sub, input).output;
}

/** The float32 value nearest `target` that stays within `bound` of `base` (toward base when rounding overshoots). */
export function within(base: number, target: number, bound: number): number {
  let v = Math.fround(target);
  const f = new Float32Array(1);
  const u = new Int32Array(f.buffer);
  while (Math.abs(v - base) > bound) {
    f[0] = v;
    u[0]! += (v > base) === v > 0 ? -1 : 1; // one ulp toward base
    v = f[0]!;
  }
  return v;
}
