/** Convolution kernels: conv (direct and im2col), conv3d, convTranspose (2-D and 3-D). */
import type { Step } from "../program.js";
import { type NumArray, type OperandRound, type Store, allFinite, asFloat64, scratch } from "./common.js";

/**
 * conv: out[n, m, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in (c, kh, kw) row-major
 * order over the group's input channels, term = x[n, g·Cg + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[m, c, kh, kw],
 * or +0 where that input coordinate lies in the padding.
 */
export function convKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Mg = M / group;
  const P = OH * OW;
  const K = Cg * KH * KW;
  // Column matrices pay off when several output channels share them (not for depthwise convolutions).
  if (Mg >= 4 && P * K <= 1 << 24 && allFinite(w)) {
    convIm2col(step, x, w, bias, out, store);
    return;
  }
  // Loops run (c, kh, kw) outermost and output positions innermost: each element still folds its
  // terms in (c, kh, kw) order, one binary64 addition at a time, into its own accumulator.
  const acc = new Float64Array(P);
  // Whether an output position's window reaches into the padding (the same for every channel).
  const padded = new Uint8Array(P);
  for (let oh = 0; oh < OH; oh++) {
    for (let ow = 0; ow < OW; ow++) {
      let pad = 0;
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H) pad = 1;
      }
      for (let kw = 0; kw < KW; kw++) {
        const iw = ow * sw - pw + kw * dw;
        if (iw < 0 || iw >= W) pad = 1;
      }
      padded[oh * OW + ow] = pad;
    }
  }
  // For each kw, the range of ow whose input column lies inside the image.
  const owLo = new Int32Array(KW);
  const owHi = new Int32Array(KW);
  for (let kw = 0; kw < KW; kw++) {
    let lo = 0;
    while (lo < OW && lo * sw - pw + kw * dw < 0) lo++;
    let hi = OW;
    while (hi > lo && (hi - 1) * sw - pw + kw * dw >= W) hi--;
    owLo[kw] = lo;
    owHi[kw] = hi;
  }
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      acc.fill(bias === undefined ? 0 : (bias[m] as number));
      const wBase = m * Cg * KH * KW;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * H * W;
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) {
            const wv = w[wBase + (c * KH + kh) * KW + kw]!;
            const lo = owLo[kw]!;
            const hi = owHi[kw]!;
            const iwOff = kw * dw - pw;
            for (let oh = 0; oh < OH; oh++) {
              const ih = oh * sh - ph + kh * dh;
              if (ih < 0 || ih >= H) continue;
              const xRow = xBase + ih * W + iwOff;
              const aRow = oh * OW;
              if (sw === 1) for (let ow = lo; ow < hi; ow++) acc[aRow + ow] = acc[aRow + ow]! + x[xRow + ow]! * wv;
              else for (let ow = lo; ow < hi; ow++) acc[aRow + ow] = acc[aRow + ow]! + x[xRow + ow * sw]! * wv;
            }
          }
        }
      }
      // A padding term adds +0: it changes nothing except turning a final −0 into +0.
      for (let p = 0; p < P; p++) out[o++] = store(padded[p] === 1 ? acc[p]! + 0 : acc[p]!);
    }
  }
}

/**
 * conv3d (NCDHW): out[n, m, od, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in
 * (c, kd, kh, kw) row-major order over the group's input channels, term = x[n, g·Cg + c, od·sd − pd + kd·dd,
 * oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[m, c, kd, kh, kw], or +0 in the padding (added as such).
 */
export function conv3dKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const [M, Cg, KD, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number, number];
  const [, , OD, OH, OW] = step.output.shape as [number, number, number, number, number];
  const group = step.params.group![0]!;
  const [sd, sh, sw] = step.params.strides! as [number, number, number];
  const [pd, ph, pw] = step.params.pads! as [number, number, number];
  const [dd, dh, dw] = step.params.dilations! as [number, number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Mg = M / group;
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const init = bias === undefined ? 0 : (bias[m] as number);
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let s = init;
            let wi = m * Cg * KD * KH * KW;
            for (let c = 0; c < Cg; c++) {
              const xc = (n * C + g * Cg + c) * D;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * sd - pd + kd * dd;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * sh - ph + kh * dh;
                  for (let kw = 0; kw < KW; kw++, wi++) {
                    const iw = ow * sw - pw + kw * dw;
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) s += 0;
                    else s += (x[((xc + id) * H + ih) * W + iw] as number) * (w[wi] as number);
                  }
                }
              }
            }
            out[o++] = store(s);
          }
    }
}

/**
 * The same fold through a column matrix (for finite weights): col[p][k] holds x at term k of output
 * position p, or 0 in the padding. A padding term then adds 0·w = ±0 instead of +0; with finite w that
 * changes nothing but the sign of a zero sum, which the final `+ 0` fixes (a sum with a +0 term
 * anywhere is never −0), so the results are the canonical ones bit for bit.
 */
export function convIm2col(step: Step, x: ArrayLike<number>, w: ArrayLike<number>, bias: NumArray | undefined, out: NumArray, store: Store): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, , OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const Mg = M / group;
  const P = OH * OW;
  const K = Cg * KH * KW;
  const wf = asFloat64(w);
  const col = scratch(P * K);
  const padded = new Uint8Array(P);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const p = oh * OW + ow;
          let k = p * K;
          let pad = 0;
          for (let c = 0; c < Cg; c++) {
            const xBase = (n * C + g * Cg + c) * H * W;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh * dh;
              const rowIn = ih >= 0 && ih < H;
              for (let kw = 0; kw < KW; kw++, k++) {
                const iw = ow * sw - pw + kw * dw;
                if (rowIn && iw >= 0 && iw < W) col[k] = x[xBase + ih * W + iw]!;
                else {
                  col[k] = 0;
                  pad = 1;
                }
              }
            }
          }
          padded[p] = pad;
        }
      }
      // Four output channels at a time: four independent folds (each still sequential in k) share the column loads.
      let m = g * Mg;
      const mEnd = (g + 1) * Mg;
      for (; m + 4 <= mEnd; m += 4) {
        const i0 = bias === undefined ? 0 : (bias[m] as number);
        const i1 = bias === undefined ? 0 : (bias[m + 1] as number);
        const i2 = bias === undefined ? 0 : (bias[m + 2] as number);
        const i3 = bias === undefined ? 0 : (bias[m + 3] as number);
        const w0 = m * K;
        const w1 = w0 + K;
        const w2 = w1 + K;
        const w3 = w2 + K;
        const o0 = (n * M + m) * P;
        for (let p = 0; p < P; p++) {
          let s0 = i0;
          let s1 = i1;
          let s2 = i2;
          let s3 = i3;
          const cBase = p * K;
          for (let k = 0; k < K; k++) {
            const v = col[cBase + k]!;
            s0 += v * wf[w0 + k]!;
            s1 += v * wf[w1 + k]!;
            s2 += v * wf[w2 + k]!;
            s3 += v * wf[w3 + k]!;
          }
          if (padded[p] === 1) {
            s0 += 0;
            s1 += 0;
            s2 += 0;
            s3 += 0;
          }
          out[o0 + p] = store(s0);
          out[o0 + P + p] = store(s1);
          out[o0 + 2 * P + p] = store(s2);
          out[o0 + 3 * P + p] = store(s3);
        }
      }
      for (; m < mEnd; m++) {
        const init = bias === undefined ? 0 : (bias[m] as number);
        const wBase = m * K;
        let o = (n * M + m) * P;
        for (let p = 0; p < P; p++) {
          let s = init;
          const cBase = p * K;
          for (let k = 0; k < K; k++) s += col[cBase + k]! * wf[wBase + k]!;
          out[o++] = store(padded[p] === 1 ? s + 0 : s);
        }
      }
    }
  }
}

/**
 * convtranspose: out[n, m, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in (c, kh, kw)
 * row-major order over the group's input channels; term = x[n, c, ih, iw] · w[c, m − g·Mg, kh, kw] when
 * oh = ih·sh − ph + kh·dh and ow = iw·sw − pw + kw·dw for an (ih, iw) inside the input, else +0.
 */
export function convTransposeKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, H, W] = step.operandTypes[0]!.shape as [number, number, number, number];
  const [, Mg, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number];
  const [, M, OH, OW] = step.output.shape as [number, number, number, number];
  const group = step.params.group![0]!;
  const [sh, sw] = step.params.strides! as [number, number];
  const [ph, pw] = step.params.pads! as [number, number];
  const [dh, dw] = step.params.dilations! as [number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Cg = C / group;
  // Per output row (column): for each kh (kw), the input row (column) it reads, or −1.
  const rowOf = new Int32Array(OH * KH);
  for (let oh = 0; oh < OH; oh++) {
    for (let kh = 0; kh < KH; kh++) {
      const t = oh + ph - kh * dh;
      const ih = t / sh;
      rowOf[oh * KH + kh] = t >= 0 && t % sh === 0 && ih < H ? ih : -1;
    }
  }
  const colOf = new Int32Array(OW * KW);
  for (let ow = 0; ow < OW; ow++) {
    for (let kw = 0; kw < KW; kw++) {
      const t = ow + pw - kw * dw;
      const iw = t / sw;
      colOf[ow * KW + kw] = t >= 0 && t % sw === 0 && iw < W ? iw : -1;
    }
  }
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const mm = m - g * Mg;
      const init = bias === undefined ? 0 : (bias[m] as number);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = init;
          let zeroTerm = false;
          for (let c = g * Cg; c < (g + 1) * Cg; c++) {
            const xBase = (n * C + c) * H * W;
            const wBase = (c * Mg + mm) * KH * KW;
            for (let kh = 0; kh < KH; kh++) {
              const ih = rowOf[oh * KH + kh]!;
              for (let kw = 0; kw < KW; kw++) {
                const iw = colOf[ow * KW + kw]!;
                if (ih < 0 || iw < 0) zeroTerm = true;
                else s += x[xBase + ih * W + iw]! * w[wBase + kh * KW + kw]!;
              }
            }
          }
          if (zeroTerm) s += 0;
          out[o++] = store(s);
        }
      }
    }
  }
}

/** Per output coordinate o and kernel tap k of one axis: the input coordinate i with o = i·s − p + k·d, or −1. */
function transposeTaps(out: number, K: number, size: number, s: number, p: number, d: number): Int32Array {
  const taps = new Int32Array(out * K);
  for (let o = 0; o < out; o++)
    for (let k = 0; k < K; k++) {
      const t = o + p - k * d;
      taps[o * K + k] = t >= 0 && t % s === 0 && t / s < size ? t / s : -1;
    }
  return taps;
}

/**
 * convtranspose3d (NCDHW): out[n, m, od, oh, ow] = fl(fold(init, terms)), init = bias[m] or +0, terms in
 * (c, kd, kh, kw) row-major order over the group's input channels; term = x[n, c, id, ih, iw] · w[c, m − g·Mg,
 * kd, kh, kw] when od = id·sd − pd + kd·dd (same for h, w) for an (id, ih, iw) inside the input, else +0.
 */
export function convTranspose3dKernel(step: Step, ins: readonly NumArray[], out: NumArray, store: Store, operand: OperandRound): void {
  const [N, C, D, H, W] = step.operandTypes[0]!.shape as [number, number, number, number, number];
  const [, Mg, KD, KH, KW] = step.operandTypes[1]!.shape as [number, number, number, number, number];
  const [, M, OD, OH, OW] = step.output.shape as [number, number, number, number, number];
  const [sd, sh, sw] = step.params.strides! as [number, number, number];
  const [pd, ph, pw] = step.params.pads! as [number, number, number];
  const [dd, dh, dw] = step.params.dilations! as [number, number, number];
  const x = operand(ins[0]!);
  const w = operand(ins[1]!);
  const bias = ins[2];
  const Cg = C / step.params.group![0]!;
  const [dOf, hOf, wOf] = [transposeTaps(OD, KD, D, sd, pd, dd), transposeTaps(OH, KH, H, sh, ph, dh), transposeTaps(OW, KW, W, sw, pw, dw)];
  const KK = KD * KH * KW;
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      const init = bias === undefined ? 0 : (bias[m] as number);
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let s = init;
            let zeroTerm = false;
            for (let c = g * Cg; c < (g + 1) * Cg; c++) {
              const xBase = (n * C + c) * D;
              let wi = (c * Mg + m - g * Mg) * KK;
              for (let kd = 0; kd < KD; kd++) {
                const id = dOf[od * KD + kd]!;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = hOf[oh * KH + kh]!;
                  for (let kw = 0; kw < KW; kw++, wi++) {
                    const iw = wOf[ow * KW + kw]!;
                    if (id < 0 || ih < 0 || iw < 0) zeroTerm = true;
                    else s += (x[((xBase + id) * H + ih) * W + iw] as number) * (w[wi] as number);
                  }
                }
              }
            }
            if (zeroTerm) s += 0;
            out[o++] = store(s);
          }
    }
}
