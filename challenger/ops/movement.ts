/** Reference operators that only move or select values (challenger/ops.ts): exact, bound 0. */
import { numel, type DType, type Tensor } from "../../protocol/index.js";
import { type OpKernel, type OpFactory, fail, strides, input, attrInt, attrInts, intsOf, normAxis, exactCopy } from "./common.js";

function gather(outShape: number[], dtype: DType, source: Tensor, map: (i: number) => number): OpKernel {
  return { outputs: [{ dtype, shape: outShape }], exact: true, element: (_o, i) => exactCopy(source.data[map(i)]!) };
}

export const Identity: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  return gather([...x.shape], x.dtype, x, (i) => i);
};

export const Reshape: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  let target: number[];
  if (ctx.opset < 5) target = attrInts(ctx, "shape") ?? fail("Reshape needs a shape");
  else target = intsOf(input(ctx, 1, "shape"));
  const allowZero = attrInt(ctx, "allowzero", 0) === 1;
  const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? numel(x.shape) / known : d));
  if (numel(resolved) !== numel(x.shape)) fail(`cannot reshape [${x.shape}] to [${target}]`);
  return gather(resolved, x.dtype, x, (i) => i);
};

export const Flatten: OpFactory = (ctx) => {
  const x = input(ctx, 0, "input");
  const axis = attrInt(ctx, "axis", 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  return gather([numel(x.shape.slice(0, a)), numel(x.shape.slice(a))], x.dtype, x, (i) => i);
};

export const Shape: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  return { outputs: [{ dtype: "int64", shape: [x.shape.length] }], exact: true, element: (_o, i) => exactCopy(BigInt(x.shape[i]!)) };
};

const CAST_TARGETS: Record<number, DType> = { 1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 11: "float64" };

export const Cast: OpFactory = (ctx) => {
  const x = input(ctx, 0, "input");
  const to = CAST_TARGETS[attrInt(ctx, "to", 0)] ?? fail(`Cast to ONNX type ${attrInt(ctx, "to", 0)}`);
  const convert = (v: number | bigint): number | bigint => {
    switch (to) {
      case "float32":
        return Math.fround(Number(v));
      case "float64":
        return Number(v);
      case "int64":
        return BigInt.asIntN(64, typeof v === "bigint" ? v : BigInt(Math.trunc(v)));
      case "bool":
        return v === 0 || v === 0n ? 0 : 1;
      default: {
        const bits = { uint8: 8, int8: 8, int16: 16, int32: 32 }[to as "int32"];
        const big = typeof v === "bigint" ? v : BigInt(Math.trunc(v));
        return Number(to === "uint8" ? BigInt.asUintN(bits, big) : BigInt.asIntN(bits, big));
      }
    }
  };
  return { outputs: [{ dtype: to, shape: [...x.shape] }], exact: true, element: (_o, i) => exactCopy(convert(x.data[i]!)) };
};

export const Slice: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  const rank = x.shape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = attrInts(ctx, "starts") ?? fail("Slice needs starts");
    ends = attrInts(ctx, "ends") ?? fail("Slice needs ends");
    axes = attrInts(ctx, "axes");
  } else {
    starts = intsOf(input(ctx, 1, "starts"));
    ends = intsOf(input(ctx, 2, "ends"));
    axes = ctx.inputs[3] === undefined ? undefined : intsOf(ctx.inputs[3]);
    steps = ctx.inputs[4] === undefined ? undefined : intsOf(ctx.inputs[4]);
  }
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const shape = [...x.shape];
  (axes ?? starts.map((_, i) => i)).forEach((axisRaw, j) => {
    const axis = normAxis(axisRaw, rank);
    const dim = x.shape[axis]!;
    const s = steps?.[j] ?? 1;
    if (s === 0) fail("Slice step 0");
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const st = s > 0 ? clampIdx(starts[j]!, 0, dim) : clampIdx(starts[j]!, 0, dim - 1);
    const en = s > 0 ? clampIdx(ends[j]!, 0, dim) : clampIdx(ends[j]!, -1, dim - 1);
    begin[axis] = st;
    step[axis] = s;
    shape[axis] = Math.max(0, Math.ceil((en - st) / s));
  });
  const outStrides = strides(shape);
  const inStrides = strides(x.shape);
  return gather(shape, x.dtype, x, (i) => {
    let idx = 0;
    for (let d = 0; d < rank; d++) idx += (begin[d]! + (Math.floor(i / outStrides[d]!) % shape[d]!) * step[d]!) * inStrides[d]!;
    return idx;
  });
};

export const Concat: OpFactory = (ctx) => {
  const ins = ctx.inputs.filter((t): t is Tensor => t !== undefined);
  const rank = ins[0]!.shape.length;
  const axis = normAxis(attrInt(ctx, "axis", 0), rank);
  const shape = [...ins[0]!.shape];
  shape[axis] = ins.reduce((n, t) => n + t.shape[axis]!, 0);
  const inner = numel(shape.slice(axis + 1));
  return {
    outputs: [{ dtype: ins[0]!.dtype, shape }],
    exact: true,
    element: (_o, i) => {
      const outer = Math.floor(i / (shape[axis]! * inner));
      let along = Math.floor(i / inner) % shape[axis]!;
      const rest = i % inner;
      for (const t of ins) {
        const d = t.shape[axis]!;
        if (along < d) return exactCopy(t.data[(outer * d + along) * inner + rest]!);
        along -= d;
      }
      return fail("Concat index out of range");
    },
  };
};

export const Transpose: OpFactory = (ctx) => {
  const x = input(ctx, 0, "data");
  const rank = x.shape.length;
  const perm = attrInts(ctx, "perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const shape = perm.map((p) => x.shape[p]!);
  const outStrides = strides(shape);
  const inStrides = strides(x.shape);
  return gather(shape, x.dtype, x, (i) => {
    let idx = 0;
    for (let d = 0; d < rank; d++) idx += (Math.floor(i / outStrides[d]!) % shape[d]!) * inStrides[perm[d]!]!;
    return idx;
  });
};

export function squeezeLike(kind: "Squeeze" | "Unsqueeze"): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "data");
    const axes = ctx.opset < 13 ? attrInts(ctx, "axes") : ctx.inputs[1] === undefined ? undefined : intsOf(ctx.inputs[1]);
    let shape: number[];
    if (kind === "Squeeze") {
      const drop = new Set((axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, x.shape.length)));
      shape = x.shape.filter((_, i) => !drop.has(i));
    } else {
      const unsqueezeAxes = axes ?? fail("Unsqueeze needs axes");
      const rank = x.shape.length + unsqueezeAxes.length;
      const add = new Set(unsqueezeAxes.map((a) => normAxis(a, rank)));
      const rest = [...x.shape];
      shape = Array.from({ length: rank }, (_, i) => (add.has(i) ? 1 : rest.shift()!));
    }
    return gather(shape, x.dtype, x, (i) => i);
  };
}
