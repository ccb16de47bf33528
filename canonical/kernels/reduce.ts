/** Window pools (2-D and 3-D) and axis reductions. */
import { type Step, stridesOf } from "../program.js";
import { type NumArray, type Store, stridedOffsets } from "./common.js";

/**
 * pool3d (NCDHW): window terms in (kd, kh, kw) row-major order. max: init −Inf, a padding term −Inf;
 * mean: init +0, a padding term +0 (added as such), finalize ÷ count (kd·kh·kw with countIncludePad, else
 * the in-bounds count).
 */
export function pool3dKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const [N, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const [, , OD, OH, OW] = step.output.shape as [number, number, number, number, number];
  const isMax = step.params.fn![0] === 1;
  const [KD, KH, KW] = step.params.kernel! as [number, number, number];
  const [sd, sh, sw] = step.params.strides! as [number, number, number];
  const [pd, ph, pw] = step.params.pads! as [number, number, number];
  const [dd, dh, dw] = step.params.dilations! as [number, number, number];
  const includePad = step.params.countIncludePad![0] === 1;
  const x = ins[0]!;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = isMax ? -Infinity : 0;
          let count = 0;
          for (let kd = 0; kd < KD; kd++) {
            const id = od * sd - pd + kd * dd;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh * dh;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pw + kw * dw;
                const inside = id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W;
                const t = inside ? (x[((nc * D + id) * H + ih) * W + iw] as number) : isMax ? -Infinity : 0;
                if (inside) count++;
                if (isMax) {
                  if (t > s || t !== t) s = t;
                } else s += t;
              }
            }
          }
          out[o++] = store(isMax ? s : s / (includePad ? KD * KH * KW : count));
        }
}

/**
 * pool (2-D, NCHW): window terms in (kh, kw) row-major order. max: init −Inf, a padding term is −Inf.
 * mean: init +0, a padding term is +0, finalize ÷ count (kh·kw with countIncludePad, else the in-bounds count).
 */
export function poolKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const isMax = step.params.fn![0] === 1;
  const [KH, KW] = step.params.kernel! as [number, number];
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const includePad = step.params.countIncludePad![0] === 1;
  const x = ins[0]!;
  let o = 0;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = isMax ? -Infinity : 0;
        let count = 0;
        let padded = false;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh * dh;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
              padded = true;
              continue;
            }
            const t = x[base + ih * W + iw] as number;
            count++;
            if (isMax) {
              if (t > s || t !== t) s = t;
            } else s += t;
          }
        }
        if (isMax) out[o++] = store(s);
        else {
          if (padded) s += 0;
          out[o++] = store(s / (includePad ? KH * KW : count));
        }
      }
    }
  }
}

/**
 * reduce over `axes`: terms are the reduced coordinates in row-major order. sum: init +0; max: init
 * −Inf (NaN propagates); mean: the sum, finalize ÷ K.
 */
export function reduceKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store): void {
  const inShape = step.operandTypes[0]!.shape;
  const axes = step.params.axes!;
  const fn = step.params.fn![0]!;
  const strides = stridesOf(inShape);
  const reduced = axes.map((a) => inShape[a]!);
  const kept = inShape.map((_, d) => d).filter((d) => !axes.includes(d));
  const inner = stridedOffsets(reduced, 0, axes.map((a) => strides[a]!));
  const outer = stridedOffsets(kept.map((d) => inShape[d]!), 0, kept.map((d) => strides[d]!));
  const x = ins[0]!;
  const K = inner.length;
  for (let o = 0; o < outer.length; o++) {
    const base = outer[o]!;
    if (fn === 1) {
      let s = -Infinity;
      for (let k = 0; k < K; k++) {
        const t = x[base + inner[k]!] as number;
        if (t > s || t !== t) s = t;
      }
      out[o] = store(s);
    } else {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[base + inner[k]!] as number;
      out[o] = store(fn === 2 ? s / K : s);
    }
  }
}
