/** Reference operators of linear algebra, convolution, pooling and Softmax (challenger/ops.ts). */
import { numel, type Tensor } from "../../protocol/index.js";
import { type OpContext, type OpFactory, fail, read, readBig, input, attrInt, attrFloat, attrInts, attrString, normAxis, broadcastShape, broadcaster, exactCopy } from "./common.js";

export const BatchNormalization: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => input(ctx, i, "BN parameter"));
  const eps = attrFloat(ctx, "epsilon", 1e-5);
  const C = x.shape[1]!;
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const c = Math.floor(i / spatial) % C;
      const a = read(scale!, c) / Math.sqrt(read(variance!, c) + eps);
      const xv = read(x, i);
      const m = read(mean!, c);
      const b = read(bias!, c);
      // Implementations differ in how they fold (scale, variance, eps) into one multiplier: 8 roundings cover them all.
      return { value: (xv - m) * a + b, magnitude: Math.abs(xv * a) + Math.abs(m * a) + Math.abs(b), terms: 8 };
    },
  };
};

function convGeometry(ctx: OpContext, spatialIn: number[], kernel: number[]) {
  const k = attrInts(ctx, "kernel_shape") ?? kernel;
  const r = k.length;
  const strides_ = attrInts(ctx, "strides") ?? new Array<number>(r).fill(1);
  const dil = attrInts(ctx, "dilations") ?? new Array<number>(r).fill(1);
  let pads = attrInts(ctx, "pads") ?? new Array<number>(2 * r).fill(0);
  const autoPad = attrString(ctx, "auto_pad", "NOTSET");
  const ceil = attrInt(ctx, "ceil_mode", 0) === 1;
  if (autoPad === "VALID") pads = new Array<number>(2 * r).fill(0);
  else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    pads = new Array<number>(2 * r).fill(0);
    for (let d = 0; d < r; d++) {
      const out = Math.ceil(spatialIn[d]! / strides_[d]!);
      const total = Math.max(0, (out - 1) * strides_[d]! + (k[d]! - 1) * dil[d]! + 1 - spatialIn[d]!);
      const small = Math.floor(total / 2);
      pads[d] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[d + r] = total - pads[d]!;
    }
  } else if (autoPad !== "NOTSET") fail(`auto_pad ${autoPad}`);
  const out = spatialIn.map((n, d) => {
    const span = (k[d]! - 1) * dil[d]! + 1;
    const q = (n + pads[d]! + pads[d + r]! - span) / strides_[d]!;
    return (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  });
  return { kernel: k, strides: strides_, dilations: dil, pads, out };
}

export const Conv: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const w = input(ctx, 1, "W");
  const b = ctx.inputs[2];
  if (x.shape.length !== 4) fail(`Conv is supported in 2-D only, got input rank ${x.shape.length}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [M, Cg, KH, KW] = w.shape as [number, number, number, number];
  const group = attrInt(ctx, "group", 1);
  if (Cg * group !== C || M % group !== 0) fail(`Conv with C=${C}, group=${group}, weight [${w.shape}]`);
  const geo = convGeometry(ctx, [H, W], [KH, KW]);
  const [OH, OW] = geo.out as [number, number];
  const [sh, sw] = geo.strides as [number, number];
  const [dh, dw] = geo.dilations as [number, number];
  const [pt, pl] = geo.pads as [number, number];
  const mPerGroup = M / group;
  const xd = x.data as Float32Array;
  const wd = w.data as Float32Array;
  const terms = Cg * KH * KW + (b === undefined ? 0 : 1);
  return {
    outputs: [{ dtype: x.dtype, shape: [N, M, OH, OW] }],
    exact: false,
    element: (_o, i) => {
      const ow = i % OW;
      const oh = Math.floor(i / OW) % OH;
      const m = Math.floor(i / (OW * OH)) % M;
      const n = Math.floor(i / (OW * OH * M));
      const g = Math.floor(m / mPerGroup);
      let sum = 0;
      let mag = 0;
      for (let c = 0; c < Cg; c++) {
        const xBase = (n * C + g * Cg + c) * H * W;
        const wBase = (m * Cg + c) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - pt + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pl + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const p = xd[xBase + ih * W + iw]! * wd[wBase + kh * KW + kw]!;
            sum += p;
            mag += Math.abs(p);
          }
        }
      }
      if (b !== undefined) {
        const bv = read(b, m);
        sum += bv;
        mag += Math.abs(bv);
      }
      return { value: sum, magnitude: mag, terms };
    },
  };
};

export function pool(kind: "max" | "avg"): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "X");
    if (x.shape.length !== 4) fail(`pooling is supported in 2-D only`);
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const kernel = attrInts(ctx, "kernel_shape") ?? fail("pooling needs kernel_shape");
    const geo = convGeometry(ctx, [H, W], kernel);
    const [OH, OW] = geo.out as [number, number];
    const [KH, KW] = geo.kernel as [number, number];
    const countPad = attrInt(ctx, "count_include_pad", 0) === 1;
    return {
      outputs: [{ dtype: x.dtype, shape: [N, C, OH, OW] }],
      exact: kind === "max",
      element: (_o, i) => {
        const ow = i % OW;
        const oh = Math.floor(i / OW) % OH;
        const nc = Math.floor(i / (OW * OH));
        let best = -Infinity;
        let sum = 0;
        let mag = 0;
        let count = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * geo.strides[0]! - geo.pads[0]! + kh * geo.dilations[0]!;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * geo.strides[1]! - geo.pads[1]! + kw * geo.dilations[1]!;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
              if (countPad) count++;
              continue;
            }
            const v = read(x, nc * H * W + ih * W + iw);
            if (v > best || Number.isNaN(v)) best = v;
            sum += v;
            mag += Math.abs(v);
            count++;
          }
        }
        if (kind === "max") return exactCopy(best);
        return { value: sum / count, magnitude: mag / count, terms: count + 1 };
      },
    };
  };
}

export const GlobalAveragePool: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [N, C] = x.shape as [number, number];
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [N, C, ...x.shape.slice(2).map(() => 1)] }],
    exact: false,
    element: (_o, i) => {
      let sum = 0;
      let mag = 0;
      for (let k = 0; k < spatial; k++) {
        const v = read(x, i * spatial + k);
        sum += v;
        mag += Math.abs(v);
      }
      // sum / n may be computed as sum * (1/n): n additions and two more roundings.
      return { value: sum / spatial, magnitude: mag / spatial, terms: spatial + 2 };
    },
  };
};

export const GlobalMaxPool: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const [N, C] = x.shape as [number, number];
  const spatial = numel(x.shape.slice(2));
  return {
    outputs: [{ dtype: x.dtype, shape: [N, C, ...x.shape.slice(2).map(() => 1)] }],
    exact: true,
    element: (_o, i) => {
      let best = -Infinity;
      for (let k = 0; k < spatial; k++) best = Math.max(best, read(x, i * spatial + k));
      return exactCopy(best);
    },
  };
};

/** Shared by MatMul and Gemm: C[m, n] = Σ_k A[m, k] · B[k, n]. */
function matmulElement(a: Tensor, b: Tensor, aAt: (m: number, k: number, batch: number) => number, bAt: (k: number, n: number, batch: number) => number, K: number) {
  return (batch: number, m: number, n: number) => {
    let sum = 0;
    let mag = 0;
    for (let k = 0; k < K; k++) {
      const p = read(a, aAt(m, k, batch)) * read(b, bAt(k, n, batch));
      sum += p;
      mag += Math.abs(p);
    }
    return { sum, mag };
  };
}

export const MatMul: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  if (a.shape.length < 2 || b.shape.length < 2) fail("MatMul with a rank-1 operand is not supported");
  const [M, K] = a.shape.slice(-2) as [number, number];
  const [K2, N] = b.shape.slice(-2) as [number, number];
  if (K !== K2) fail(`MatMul [${a.shape}] x [${b.shape}]`);
  const batchShape = broadcastShape([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const ba = broadcaster(batchShape, a.shape.slice(0, -2));
  const bb = broadcaster(batchShape, b.shape.slice(0, -2));
  const shape = [...batchShape, M, N];
  const locate = (i: number) => ({ n: i % N, m: Math.floor(i / N) % M, batch: Math.floor(i / (M * N)) });
  if (a.dtype === "int32" || a.dtype === "int64") {
    return {
      outputs: [{ dtype: a.dtype, shape }],
      exact: true,
      element: (_o, i) => {
        const { n, m, batch } = locate(i);
        let acc = 0n;
        for (let k = 0; k < K; k++) acc += readBig(a, (ba(batch) * M + m) * K + k) * readBig(b, (bb(batch) * K + k) * N + n);
        return exactCopy(a.dtype === "int64" ? BigInt.asIntN(64, acc) : Number(BigInt.asIntN(32, acc)));
      },
    };
  }
  const dot = matmulElement(a, b, (m, k, batch) => (ba(batch) * M + m) * K + k, (k, n, batch) => (bb(batch) * K + k) * N + n, K);
  return {
    outputs: [{ dtype: a.dtype, shape }],
    exact: false,
    element: (_o, i) => {
      const { n, m, batch } = locate(i);
      const { sum, mag } = dot(batch, m, n);
      return { value: sum, magnitude: mag, terms: K };
    },
  };
};

/** MatMulInteger: int8/uint8 operands with optional scalar zero points, exact int32 result. */
export const MatMulInteger: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  const zp = (i: number): bigint => {
    const t = ctx.inputs[i];
    if (t === undefined) return 0n;
    if (t.data.length !== 1) fail("MatMulInteger with per-row/column zero points is not supported");
    return readBig(t, 0);
  };
  const za = zp(2);
  const zb = zp(3);
  if (a.shape.length < 2 || b.shape.length < 2) fail("MatMulInteger with a rank-1 operand is not supported");
  const [M, K] = a.shape.slice(-2) as [number, number];
  const N = b.shape[b.shape.length - 1]!;
  const batchShape = broadcastShape([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const ba = broadcaster(batchShape, a.shape.slice(0, -2));
  const bb = broadcaster(batchShape, b.shape.slice(0, -2));
  return {
    outputs: [{ dtype: "int32", shape: [...batchShape, M, N] }],
    exact: true,
    element: (_o, i) => {
      const n = i % N;
      const m = Math.floor(i / N) % M;
      const batch = Math.floor(i / (M * N));
      let acc = 0n;
      for (let k = 0; k < K; k++) acc += (readBig(a, (ba(batch) * M + m) * K + k) - za) * (readBig(b, (bb(batch) * K + k) * N + n) - zb);
      return exactCopy(Number(BigInt.asIntN(32, acc)));
    },
  };
};

export const Gemm: OpFactory = (ctx) => {
  const a = input(ctx, 0, "A");
  const b = input(ctx, 1, "B");
  const c = ctx.inputs[2];
  const alpha = attrFloat(ctx, "alpha", 1);
  const beta = attrFloat(ctx, "beta", 1);
  const ta = attrInt(ctx, "transA", 0) === 1;
  const tb = attrInt(ctx, "transB", 0) === 1;
  const [M, K] = (ta ? [a.shape[1], a.shape[0]] : a.shape) as [number, number];
  const N = (tb ? b.shape[0] : b.shape[1])!;
  const ic = c === undefined ? undefined : broadcaster([M, N], c.shape);
  const dot = matmulElement(a, b, (m, k) => (ta ? k * M + m : m * K + k), (k, n) => (tb ? n * K + k : k * N + n), K);
  return {
    outputs: [{ dtype: a.dtype, shape: [M, N] }],
    exact: false,
    element: (_o, i) => {
      const n = i % N;
      const m = Math.floor(i / N);
      const { sum, mag } = dot(0, m, n);
      const cv = c === undefined ? 0 : beta * read(c, ic!(i));
      return { value: alpha * sum + cv, magnitude: Math.abs(alpha) * mag + Math.abs(cv), terms: K + 3 };
    },
  };
};

export const Softmax: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const rank = x.shape.length;
  const axis = normAxis(attrInt(ctx, "axis", ctx.opset < 13 ? 1 : -1), rank);
  // Before opset 13 the input is coerced to 2-D at `axis`; from 13 the softmax runs along one axis.
  const size = ctx.opset < 13 ? numel(x.shape.slice(axis)) : x.shape[axis]!;
  const stride = ctx.opset < 13 ? 1 : numel(x.shape.slice(axis + 1));
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const pos = Math.floor(i / stride) % size;
      const base = i - pos * stride;
      let max = -Infinity;
      for (let k = 0; k < size; k++) max = Math.max(max, read(x, base + k * stride));
      let total = 0;
      let spread = 0;
      for (let k = 0; k < size; k++) {
        const d = read(x, base + k * stride) - max;
        const e = Math.exp(d);
        total += e;
        spread += e * Math.abs(d);
      }
      const xi = read(x, i) - max;
      const y = Math.exp(xi) / total;
      // Relative error: the exponent's rounding (|x - max| ulps), exp's approximation (a few ulps),
      // the sum (size roundings) and the division; all proportional to y.
      return { value: y, magnitude: y * (1 + Math.abs(xi) + spread / total), terms: size + 8 };
    },
  };
};
