/**
 * Prints the OPTIMISTIC-tier model commitment of an ONNX file as JSON (docs/OPTIMISTIC.md).
 *
 *   tsx scripts/model-commitment.ts <model.onnx> [--input-shape 1,3,48,192] [--operators]
 *
 * --input-shape: the reference input shape (needed when the model's input has dynamic dimensions);
 * --operators: also list every weight and operator entry with its leaf hash.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { commitModel, commitmentToJson } from "../protocol/index.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "input-shape": { type: "string" }, operators: { type: "boolean", default: false } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write("usage: model-commitment <model.onnx> [--input-shape 1,3,48,192] [--operators]\n");
  process.exit(2);
}
const inputShape = values["input-shape"]?.split(",").map((d) => Number(d.trim()));
const commitment = await commitModel(await readFile(file), inputShape === undefined ? {} : { inputShape });
process.stdout.write(`${JSON.stringify({ file, ...commitmentToJson(commitment, { operators: values.operators }) }, null, 2)}\n`);
