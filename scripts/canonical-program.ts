/**
 * Prints the canonical program commitment of an ONNX file as JSON (docs/CANONICAL.md, docs/V2.md §2).
 *
 *   tsx scripts/canonical-program.ts <model.onnx> [--input-shape 1,3,48,192] [--precision fp32] [--steps]
 *
 * --input-shape: the committed static input shape (needed when the model's input has symbolic dimensions);
 * --precision: fp32 (default), tf32, fp16 or bf16;
 * --steps: also list every step (kind, op, operands, output type, params, source node, leaf hash).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { commitProgram, lowerModel, PRECISIONS, stepLeaf, type Precision } from "../canonical/index.js";
import { DTYPES } from "../protocol/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "input-shape": { type: "string" }, precision: { type: "string", default: "fp32" }, steps: { type: "boolean", default: false } },
});
const file = positionals[0];
const precision = values.precision as Precision;
if (file === undefined || !(precision in PRECISIONS)) {
  process.stderr.write("usage: canonical-program <model.onnx> [--input-shape 1,3,48,192] [--precision fp32|tf32|fp16|bf16] [--steps]\n");
  process.exit(2);
}
const bytes = await readFile(file);
const inputShape = values["input-shape"]?.split(",").map((d) => Number(d.trim()));
const program = lowerModel(bytes, inputShape === undefined ? {} : { inputShape });
const kinds: Record<string, number> = {};
for (const s of program.steps) kinds[`${s.kind}:${s.op}`] = (kinds[`${s.kind}:${s.op}`] ?? 0) + 1;
const traceBytes = program.steps.reduce((n, s) => n + s.output.shape.reduce((a, b) => a * b, 1) * DTYPES[s.output.dtype].size, 0);
const summary = {
  file,
  modelHash: `0x${createHash("sha256").update(bytes).digest("hex")}`,
  input: program.input,
  output: program.output,
  ...commitProgram(program, precision),
  weightCount: program.weights.length,
  stepKinds: kinds,
  traceBytes,
  ...(values.steps
    ? {
        steps: program.steps.map((s) => ({
          index: s.index,
          kind: s.kind,
          op: s.op,
          node: s.origin.node,
          operands: s.operands.map((o, k) => ({ ...o, ...s.operandTypes[k] })),
          output: s.output,
          params: s.params,
          leaf: `0x${stepLeaf(s).toString("hex")}`,
        })),
      }
    : {}),
};
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
