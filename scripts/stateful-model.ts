/**
 * Writes models/vad-gru.onnx: a small recurrent voice-activity model in the shape of Silero VAD, the
 * stateful model the multi-input path is tested with. Three inputs, two outputs:
 *
 *   input  float32[1,64]   one audio frame
 *   sr     int64[]         the sample rate (a scalar): the frame's projection is scaled by sr / 16000
 *   state  float32[1,1,8]  the recurrent state from the previous frame (zeros at the start)
 *   ->
 *   output float32[1,1]    speech probability, sigmoid(Wo · h')
 *   stateN float32[1,1,8]  h' = GRU(Wp · input · sr/16000, h = state): the next request's `state`
 *
 * The GRU is ONNX's fused recurrent operator: such a model is served in NONE, never OPTIMISTIC
 * (`oracle model check` says why). Weights come from a fixed xorshift seed, so the file is the same
 * byte for byte on every run: `npx tsx scripts/stateful-model.ts` rewrites it, `--check` compares.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { onnx } from "../protocol/index.js";

export const VAD_GRU_FILE = fileURLToPath(new URL("../models/vad-gru.onnx", import.meta.url));
const FRAME = 64;
const PROJ = 16;
const HIDDEN = 8;

function values(n: number, seed: number, scale: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return Math.fround(((s >>> 8) / 2 ** 24 - 0.5) * 2 * scale);
  });
}

export function buildVadGru(): Uint8Array {
  const T = onnx.AttributeProto.AttributeType;
  const f32 = (name: string, dims: number[], floatData: number[]) => ({ name, dims, dataType: 1, floatData });
  const io = (name: string, elemType: number, dims: number[]) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 14 }],
    producerName: "scripts/stateful-model.ts",
    graph: {
      name: "vad_gru",
      node: [
        { name: "sr_float", opType: "Cast", input: ["sr"], output: ["srf"], attribute: [{ name: "to", type: T.INT, i: 1 }] },
        { name: "sr_scale", opType: "Div", input: ["srf", "sr_ref"], output: ["scale"] },
        { name: "project", opType: "MatMul", input: ["input", "Wp"], output: ["proj"] },
        { name: "scale", opType: "Mul", input: ["proj", "scale"], output: ["scaled"] },
        { name: "seq", opType: "Unsqueeze", input: ["scaled", "axis0"], output: ["X"] },
        { name: "gru", opType: "GRU", input: ["X", "W", "R", "B", "", "state"], output: ["Y", "stateN"], attribute: [{ name: "hidden_size", type: T.INT, i: HIDDEN }] },
        { name: "flatten", opType: "Reshape", input: ["stateN", "flat"], output: ["h"] },
        { name: "head", opType: "MatMul", input: ["h", "Wo"], output: ["logit"] },
        { name: "prob", opType: "Sigmoid", input: ["logit"], output: ["output"] },
      ],
      initializer: [
        f32("sr_ref", [], [16000]),
        f32("Wp", [FRAME, PROJ], values(FRAME * PROJ, 11, 0.25)),
        { name: "axis0", dims: [1], dataType: 7, int64Data: [0] },
        f32("W", [1, 3 * HIDDEN, PROJ], values(3 * HIDDEN * PROJ, 12, 0.5)),
        f32("R", [1, 3 * HIDDEN, HIDDEN], values(3 * HIDDEN * HIDDEN, 13, 0.5)),
        f32("B", [1, 6 * HIDDEN], values(6 * HIDDEN, 14, 0.1)),
        { name: "flat", dims: [2], dataType: 7, int64Data: [1, HIDDEN] },
        f32("Wo", [HIDDEN, 1], values(HIDDEN, 15, 1)),
      ],
      input: [io("input", 1, [1, FRAME]), io("state", 1, [1, 1, HIDDEN]), io("sr", 7, [])],
      output: [io("output", 1, [1, 1]), io("stateN", 1, [1, 1, HIDDEN])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = buildVadGru();
  if (process.argv.includes("--check")) {
    const same = Buffer.from(readFileSync(VAD_GRU_FILE)).equals(Buffer.from(bytes));
    console.log(same ? `${VAD_GRU_FILE} is up to date` : `${VAD_GRU_FILE} differs from what this script builds`);
    process.exit(same ? 0 : 1);
  }
  writeFileSync(VAD_GRU_FILE, bytes);
  console.log(`wrote ${VAD_GRU_FILE} (${bytes.byteLength} bytes)`);
}
