/** The move kernel: values copied bit for bit (reshape, transpose, slice, concat, expand, gather, pad, ...). */
import { type Step, canonicalError, numelOf, stridesOf } from "../program.js";
import { type NumArray, broadcastOffsets, stridedOffsets } from "./common.js";

/** Evaluates a move step into `out` (values copied bit for bit). */
export function moveKernel(step: Step, ins: readonly NumArray[], out: NumArray): void {
  const outShape = step.output.shape;
  const x = ins[0]!;
  switch (step.op) {
    case "reshape":
      out.set(x as never);
      return;
    case "transpose": {
      const perm = step.params.perm!;
      const inStrides = stridesOf(step.operandTypes[0]!.shape);
      const offs = stridedOffsets(outShape, 0, perm.map((p) => inStrides[p]!));
      for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "slice": {
      const starts = step.params.starts!;
      const steps = step.params.steps!;
      const inStrides = stridesOf(step.operandTypes[0]!.shape);
      const base = starts.reduce((a, s, d) => a + s * inStrides[d]!, 0);
      const offs = stridedOffsets(outShape, base, steps.map((s, d) => s * inStrides[d]!));
      for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "concat": {
      const axis = step.params.axis![0]!;
      const outer = numelOf(outShape.slice(0, axis));
      const inner = numelOf(outShape.slice(axis + 1));
      const row = outShape[axis]! * inner;
      let at = 0;
      ins.forEach((t, k) => {
        const len = step.operandTypes[k]!.shape[axis]! * inner;
        for (let o = 0; o < outer; o++) out.set(t.subarray(o * len, (o + 1) * len) as never, o * row + at);
        at += len;
      });
      return;
    }
    case "expand": {
      const offs = broadcastOffsets(outShape, step.operandTypes[0]!.shape);
      if (offs === null) out.set(x as never);
      else for (let i = 0; i < offs.length; i++) out[i] = x[offs[i]!]!;
      return;
    }
    case "resize_nearest": {
      const inShape = step.operandTypes[0]!.shape;
      const scales = step.params.scales!;
      const inStrides = stridesOf(inShape);
      // Per axis: the input offset of each output coordinate.
      const axisOffsets = outShape.map((d, a) => Int32Array.from({ length: d }, (_, o) => Math.min(Math.floor(o / scales[a]!), inShape[a]! - 1) * inStrides[a]!));
      const rank = outShape.length;
      const coord = new Array<number>(rank).fill(0);
      const n = out.length;
      for (let i = 0; i < n; i++) {
        let j = 0;
        for (let a = 0; a < rank; a++) j += axisOffsets[a]![coord[a]!]!;
        out[i] = x[j]!;
        for (let a = rank - 1; a >= 0; a--) {
          coord[a]!++;
          if (coord[a]! < outShape[a]!) break;
          coord[a] = 0;
        }
      }
      return;
    }
    case "constant": {
      const v = step.params.values!;
      for (let i = 0; i < out.length; i++) out[i] = v[i]!;
      return;
    }
    case "gather": {
      // out = x[pre, indices[j], post]: outer × J × inner blocks.
      const inShape = step.operandTypes[0]!.shape;
      const axis = step.params.axis![0]!;
      const indices = step.params.indices!;
      const outer = numelOf(inShape.slice(0, axis));
      const inner = numelOf(inShape.slice(axis + 1));
      const size = inShape[axis]!;
      let o = 0;
      for (let p = 0; p < outer; p++)
        for (let j = 0; j < indices.length; j++) {
          const base = (p * size + indices[j]!) * inner;
          for (let t = 0; t < inner; t++) out[o++] = x[base + t]!;
        }
      return;
    }
    case "gather_elements": {
      const inShape = step.operandTypes[0]!.shape;
      const axis = step.params.axis![0]!;
      const indices = step.params.indices!;
      const inStrides = stridesOf(inShape);
      const rank = outShape.length;
      const coord = new Array<number>(rank).fill(0);
      for (let i = 0; i < out.length; i++) {
        let j = 0;
        for (let d = 0; d < rank; d++) j += (d === axis ? indices[i]! : coord[d]!) * inStrides[d]!;
        out[i] = x[j]!;
        for (let d = rank - 1; d >= 0; d--) {
          coord[d]!++;
          if (coord[d]! < outShape[d]!) break;
          coord[d] = 0;
        }
      }
      return;
    }
    case "pad":
    case "tile": {
      const inShape = step.operandTypes[0]!.shape;
      const inStrides = stridesOf(inShape);
      const rank = outShape.length;
      const mode = step.params.mode?.[0] ?? 0;
      const pads = step.params.pads ?? [];
      const fill = step.params.value?.[0] ?? 0;
      // Per axis: the input offset of each output coordinate, or −1 where a constant pad writes the value.
      const axisOffsets = outShape.map((d, a) =>
        Int32Array.from({ length: d }, (_, o) => {
          const size = inShape[a]!;
          if (step.op === "tile") return (o % size) * inStrides[a]!;
          let c = o - pads[a]!;
          if (c < 0 || c >= size) {
            if (mode === 0) return -1;
            if (mode === 2) c = c < 0 ? 0 : size - 1;
            else c = c < 0 ? -c : 2 * (size - 1) - c;
          }
          return c * inStrides[a]!;
        }),
      );
      const coord = new Array<number>(rank).fill(0);
      for (let i = 0; i < out.length; i++) {
        let j = 0;
        for (let a = 0; a < rank; a++) {
          const off = axisOffsets[a]![coord[a]!]!;
          if (off < 0) {
            j = -1;
            break;
          }
          j += off;
        }
        out[i] = j < 0 ? fill : x[j]!;
        for (let a = rank - 1; a >= 0; a--) {
          coord[a]!++;
          if (coord[a]! < outShape[a]!) break;
          coord[a] = 0;
        }
      }
      return;
    }
    default:
      throw canonicalError("OP_UNSUPPORTED", `no move ${step.op}`);
  }
}
