/** Element-wise reference operators (challenger/ops.ts): arithmetic, extrema, activations, bit shifts. */
import type { Tensor } from "../../protocol/index.js";
import { type OpFactory, FLOAT_TYPES, fail, read, readBig, input, attrFloat, attrString, broadcastShape, broadcaster, exactCopy } from "./common.js";

type Arith = { float: (a: number, b: number) => { value: number; magnitude: number; terms: number }; int32: (a: number, b: number) => number; int64: (a: bigint, b: bigint) => bigint };

const ARITH: Record<string, Arith> = {
  Add: { float: (a, b) => ({ value: a + b, magnitude: Math.abs(a) + Math.abs(b), terms: 2 }), int32: (a, b) => (a + b) | 0, int64: (a, b) => BigInt.asIntN(64, a + b) },
  Sub: { float: (a, b) => ({ value: a - b, magnitude: Math.abs(a) + Math.abs(b), terms: 2 }), int32: (a, b) => (a - b) | 0, int64: (a, b) => BigInt.asIntN(64, a - b) },
  Mul: { float: (a, b) => ({ value: a * b, magnitude: Math.abs(a * b), terms: 1 }), int32: (a, b) => Math.imul(a, b), int64: (a, b) => BigInt.asIntN(64, a * b) },
  // a / b may be computed as a * (1/b): two roundings.
  Div: {
    float: (a, b) => ({ value: a / b, magnitude: Math.abs(a / b), terms: 2 }),
    int32: (a, b) => (b === 0 ? fail("integer division by zero") : Math.trunc(a / b) | 0),
    int64: (a, b) => (b === 0n ? fail("integer division by zero") : a / b),
  },
};

export function binary(op: string): OpFactory {
  const arith = ARITH[op]!;
  return (ctx) => {
    const a = input(ctx, 0, "A");
    const b = input(ctx, 1, "B");
    if (a.dtype !== b.dtype) fail(`${op} of ${a.dtype} and ${b.dtype}`);
    const shape = broadcastShape([a.shape, b.shape]);
    const ia = broadcaster(shape, a.shape);
    const ib = broadcaster(shape, b.shape);
    const dtype = a.dtype;
    if (FLOAT_TYPES.has(dtype)) {
      return { outputs: [{ dtype, shape }], exact: false, element: (_o, i) => arith.float(read(a, ia(i)), read(b, ib(i))) };
    }
    if (dtype === "int64") return { outputs: [{ dtype, shape }], exact: true, element: (_o, i) => exactCopy(arith.int64(readBig(a, ia(i)), readBig(b, ib(i)))) };
    if (dtype === "int32") return { outputs: [{ dtype, shape }], exact: true, element: (_o, i) => exactCopy(arith.int32(read(a, ia(i)), read(b, ib(i)))) };
    return fail(`${op} on ${dtype} is not supported`);
  };
}

/** Max / Min: variadic, broadcasting, exact for every dtype. */
export function extremum(op: "Max" | "Min"): OpFactory {
  return (ctx) => {
    const ins = ctx.inputs.filter((t): t is Tensor => t !== undefined);
    if (ins.length === 0) fail(`${op} needs an input`);
    const shape = broadcastShape(ins.map((t) => t.shape));
    const maps = ins.map((t) => broadcaster(shape, t.shape));
    const better = op === "Max" ? (x: number | bigint, y: number | bigint) => x > y : (x: number | bigint, y: number | bigint) => x < y;
    return {
      outputs: [{ dtype: ins[0]!.dtype, shape }],
      exact: true,
      element: (_o, i) => {
        let best: number | bigint = ins[0]!.data[maps[0]!(i)]!;
        for (let k = 1; k < ins.length; k++) {
          const v = ins[k]!.data[maps[k]!(i)]!;
          if (Number.isNaN(v) || better(v, best)) best = v;
        }
        return exactCopy(best);
      },
    };
  };
}

function unaryExact(fn: (v: number) => number): OpFactory {
  return (ctx) => {
    const x = input(ctx, 0, "X");
    return { outputs: [{ dtype: x.dtype, shape: [...x.shape] }], exact: true, element: (_o, i) => exactCopy(fn(read(x, i))) };
  };
}

export const Relu: OpFactory = unaryExact((v) => (v > 0 ? v : 0));

export const Clip: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  let lo = -Infinity;
  let hi = Infinity;
  if (ctx.opset < 11) {
    lo = attrFloat(ctx, "min", -Infinity);
    hi = attrFloat(ctx, "max", Infinity);
  } else {
    if (ctx.inputs[1] !== undefined) lo = read(ctx.inputs[1], 0);
    if (ctx.inputs[2] !== undefined) hi = read(ctx.inputs[2], 0);
  }
  return unaryExact((v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi)))({ ...ctx, inputs: [x] });
};

export const HardSigmoid: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const alpha = attrFloat(ctx, "alpha", Math.fround(0.2));
  const beta = attrFloat(ctx, "beta", 0.5);
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const v = read(x, i);
      const lin = alpha * v + beta;
      // Saturated outputs are exact; a bound on the linear part is generous there.
      return { value: Math.min(1, Math.max(0, lin)), magnitude: Math.abs(alpha * v) + Math.abs(beta), terms: 2 };
    },
  };
};

/** HardSwish (opset 14): x · HardSigmoid(x; 1/6, 0.5). */
export const HardSwish: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  return {
    outputs: [{ dtype: x.dtype, shape: [...x.shape] }],
    exact: false,
    element: (_o, i) => {
      const v = read(x, i);
      const hs = Math.min(1, Math.max(0, v / 6 + 0.5));
      return { value: v * hs, magnitude: Math.abs(v) * (Math.abs(v / 6) + 0.5), terms: 4 };
    },
  };
};

export const BitShift: OpFactory = (ctx) => {
  const x = input(ctx, 0, "X");
  const y = input(ctx, 1, "Y");
  const left = attrString(ctx, "direction", "") === "LEFT";
  const shape = broadcastShape([x.shape, y.shape]);
  const ix = broadcaster(shape, x.shape);
  const iy = broadcaster(shape, y.shape);
  const bits = { uint8: 8n, uint16: 16n, uint32: 32n, uint64: 64n } as Record<string, bigint>;
  const width = bits[x.dtype];
  if (width === undefined) fail(`BitShift on ${x.dtype}`);
  return {
    outputs: [{ dtype: x.dtype, shape }],
    exact: true,
    element: (_o, i) => {
      const a = readBig(x, ix(i));
      const s = readBig(y, iy(i));
      const r = s >= width ? 0n : left ? BigInt.asUintN(Number(width), a << s) : a >> s;
      return exactCopy(x.dtype === "uint64" ? r : Number(r));
    },
  };
};
