/** Contractions: MatMul (and MatMulInteger), Gemm, Einsum. */
import type { DType } from "../../protocol/index.js";
import { attrFloat, attrInt, attrString, broadcastShapes } from "../fold.js";
import { FLOAT, type LowerContext, type OperatorLowering, QUANT, type Value, checkDtype, input, reshapeTo } from "./context.js";
import { subZeroPoint } from "./quant.js";
import { reduceAxes } from "./reduce.js";

/** MatMul shapes: a [..., M, K] · b [..., K, N] with batch broadcasting (1-D operands promoted, then dropped). */
export const MatMul: OperatorLowering = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  const integer = ctx.opType === "MatMulInteger";
  if (integer) {
    checkDtype(ctx, a, QUANT);
    checkDtype(ctx, b, QUANT);
    const m = a.type.shape[a.type.shape.length - 2]!;
    // Zero points: A − a_zp and B − b_zp as int32 maps (per row of A: a 1-D a_zp is viewed as [M, 1]; per column of B).
    const za = ctx.inputs[2];
    const zb = ctx.inputs[3];
    const sa = za === undefined ? a : subZeroPoint(ctx, a, za, za.type.shape.length === 1 && za.type.shape[0] === m && m !== 1 ? [m, 1] : undefined);
    const sb = zb === undefined ? b : subZeroPoint(ctx, b, zb);
    return [matmulStep(ctx, sa, sb, "int32")];
  } else {
    checkDtype(ctx, a, FLOAT);
    if (a.type.dtype !== b.type.dtype) throw ctx.fail("operand dtypes differ");
  }
  return [matmulStep(ctx, a, b, a.type.dtype)];
};

export function matmulStep(ctx: LowerContext, a: Value, b: Value, dtype: DType): Value {
  if (a.type.shape.length < 2 || b.type.shape.length < 2) throw ctx.fail("1-D MatMul operands are not supported");
  const [m, k] = a.type.shape.slice(-2) as [number, number];
  const [k2, nn] = b.type.shape.slice(-2) as [number, number];
  if (k !== k2) throw ctx.fail(`inner dimensions ${k} and ${k2} differ`);
  const batch = broadcastShapes([a.type.shape.slice(0, -2), b.type.shape.slice(0, -2)]);
  return ctx.emit("reduce", "matmul", [a, b], { dtype, shape: [...batch, m, nn] }, { transA: [0], transB: [0] });
}

export const Gemm: OperatorLowering = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  const c = ctx.inputs[2];
  checkDtype(ctx, a, FLOAT);
  const transA = attrInt(ctx.attributes, "transA", 0);
  const transB = attrInt(ctx.attributes, "transB", 0);
  const alpha = attrFloat(ctx.attributes, "alpha", 1);
  const beta = attrFloat(ctx.attributes, "beta", 1);
  if (a.type.shape.length !== 2 || b.type.shape.length !== 2) throw ctx.fail("Gemm operands must be 2-D");
  const m = transA ? a.type.shape[1]! : a.type.shape[0]!;
  const k = transA ? a.type.shape[0]! : a.type.shape[1]!;
  const n = transB ? b.type.shape[0]! : b.type.shape[1]!;
  if ((transB ? b.type.shape[1] : b.type.shape[0]) !== k) throw ctx.fail("inner dimensions differ");
  const out = { dtype: a.type.dtype, shape: [m, n] };
  const params = { transA: [transA], transB: [transB] };
  if (c !== undefined) broadcastShapes([out.shape, c.type.shape]);
  // alpha = beta = 1: the bias is the reduction's init (one step). Otherwise the product, then
  // maps: scale by alpha, and add beta·C.
  if (alpha === 1 && (beta === 1 || c === undefined)) return [ctx.emit("reduce", "matmul", c === undefined ? [a, b] : [a, b, c], out, params)];
  let y = ctx.emit("reduce", "matmul", [a, b], out, params);
  if (alpha !== 1) y = ctx.emit("map", "scale", [y], out, { k: [alpha] });
  if (c !== undefined && beta !== 0) {
    const bc = beta === 1 ? c : ctx.emit("map", "scale", [c], c.type, { k: [beta] });
    y = ctx.emit("map", "add", [y, bc], out);
  }
  return [y];
};

/**
 * Einsum with two operands, as a batched matmul: batch letters (in both operands and the output),
 * the contracted letters K (in both, not in the output), the free letters I of the first and J of the
 * second. Each operand is transposed to [batch, I, K] / [batch, K, J] and reshaped to one I, K, J axis
 * each, multiplied (`reduce matmul`: terms over the K letters row-major, in the first operand's order),
 * reshaped to [batch, I, J] and transposed to the output's order. Refused: other operand counts, a
 * letter repeated in one operand (diagonals), a letter summed within one operand only.
 */
export const Einsum: OperatorLowering = (ctx) => {
  const equation = attrString(ctx.attributes, "equation", "").replace(/\s+/g, "");
  const refuse = (why: string) => ctx.fail(`equation "${equation}": ${why}`);
  const operands = ctx.inputs.filter((v): v is Value => v !== undefined);
  if (operands.length !== 1 && operands.length !== 2) throw refuse(`${operands.length} operands (only 1 or 2 are supported)`);
  const a = operands[0]!;
  checkDtype(ctx, a, FLOAT);
  if (operands.some((v) => v.type.dtype !== a.type.dtype)) throw refuse("operand dtypes differ");
  const [lhs, rhsIn] = equation.split("->") as [string, string | undefined];
  const terms = lhs.split(",");
  if (terms.length !== operands.length) throw refuse(`${terms.length} input terms for ${operands.length} operands`);
  terms.forEach((t, k) => {
    if (!/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(t)) throw refuse(`term ${k} must be letters with at most one "..."`);
  });
  if (rhsIn !== undefined && !/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(rhsIn)) throw refuse("the output must be letters with at most one \"...\"");
  // "..." becomes placeholders of its own (the digits 0-7, right-aligned across operands).
  const ellipsisRank = Math.max(...terms.map((t, k) => (t.includes("...") ? operands[k]!.type.shape.length - (t.length - 3) : 0)));
  if (ellipsisRank > 8) throw refuse("ellipsis too wide");
  const placeholder = (k: number, len: number) => Array.from({ length: len }, (_, i) => String.fromCharCode(48 + ellipsisRank - len + i)).join("");
  const letters = terms.map((t, k) => (t.includes("...") ? t.replace("...", placeholder(k, operands[k]!.type.shape.length - (t.length - 3))) : t).split(""));
  letters.forEach((l, k) => {
    if (l.length !== operands[k]!.type.shape.length) throw refuse(`term ${k} has ${l.length} letters for rank ${operands[k]!.type.shape.length}`);
    if (new Set(l).size !== l.length) throw refuse(`term ${k} repeats a letter (diagonals are not supported)`);
  });
  const la = letters[0]!;
  const lb = letters[1] ?? [];
  let out: string[];
  if (rhsIn === undefined) {
    const counts = new Map<string, number>();
    for (const c of [...la, ...lb]) counts.set(c, (counts.get(c) ?? 0) + 1);
    const ell = placeholder(0, ellipsisRank).split("").filter((c) => c !== "");
    out = [...ell, ...[...counts.keys()].filter((c) => counts.get(c) === 1 && !ell.includes(c)).sort()];
  } else out = (rhsIn.includes("...") ? rhsIn.replace("...", placeholder(0, ellipsisRank)) : rhsIn).split("");
  if (new Set(out).size !== out.length || out.some((c) => !la.includes(c) && !lb.includes(c))) throw refuse("the output repeats a letter or names one no operand has");
  const transposeTo = (v: Value, perm: number[]): Value =>
    perm.some((p, i) => p !== i) ? ctx.emit("move", "transpose", [v], { dtype: v.type.dtype, shape: perm.map((p) => v.type.shape[p]!) }, { perm }) : v;
  if (operands.length === 1) {
    // One operand: a `reduce sum` over the letters the output drops (row-major), then a transpose.
    const summed = la.filter((c) => !out.includes(c));
    const y = summed.length > 0 ? reduceAxes(ctx, a, "sum", summed.map((c) => la.indexOf(c)), false) : a;
    const kept = la.filter((c) => out.includes(c));
    const t = transposeTo(y, out.map((c) => kept.indexOf(c)));
    return [t === a ? reshapeTo(ctx, a, a.type.shape) : t];
  }
  const b = operands[1]!;
  const batch = out.filter((c) => la.includes(c) && lb.includes(c));
  const I = la.filter((c) => out.includes(c) && !lb.includes(c));
  const J = lb.filter((c) => out.includes(c) && !la.includes(c));
  const K = la.filter((c) => lb.includes(c) && !out.includes(c));
  const lonely = [...la, ...lb].filter((c) => !out.includes(c) && !(la.includes(c) && lb.includes(c)));
  if (lonely.length > 0) throw refuse(`letter ${lonely[0]} is summed within one operand only`);
  const sizeIn = (l: string[], v: Value, c: string) => v.type.shape[l.indexOf(c)]!;
  if (K.length === 0) {
    // No contraction (outer or batched elementwise products): each operand transposed to the output's
    // letter order and viewed with 1 for the other's letters; one `map mul` (exact: one rounding).
    const arranged = [[a, la], [b, lb]].map(([v, l]) => {
      const own = out.filter((c) => (l as string[]).includes(c));
      return { t: transposeTo(v as Value, own.map((c) => (l as string[]).indexOf(c))), view: out.map((c) => ((l as string[]).includes(c) ? sizeIn(l as string[], v as Value, c) : 1)) };
    });
    const shape = broadcastShapes(arranged.map((x) => x.view));
    return [ctx.emit("map", "mul", arranged.map((x) => x.t), { dtype: a.type.dtype, shape }, { view0: arranged[0]!.view, view1: arranged[1]!.view })];
  }
  for (const c of K) if (sizeIn(la, a, c) !== sizeIn(lb, b, c)) throw refuse(`contracted letter ${c} has sizes ${sizeIn(la, a, c)} and ${sizeIn(lb, b, c)}`);
  const prod = (l: string[], v: Value, cs: string[]) => cs.reduce((p, c) => p * sizeIn(l, v, c), 1);
  const arrange = (v: Value, l: string[], order: string[], shape: number[]): Value => {
    const perm = order.map((c) => l.indexOf(c));
    let t = v;
    if (perm.some((p, i) => p !== i)) t = ctx.emit("move", "transpose", [t], { dtype: t.type.dtype, shape: perm.map((p) => v.type.shape[p]!) }, { perm });
    if (shape.length !== t.type.shape.length || shape.some((d, i) => d !== t.type.shape[i])) t = reshapeTo(ctx, t, shape);
    return t;
  };
  const batchA = batch.map((c) => sizeIn(la, a, c));
  const batchB = batch.map((c) => sizeIn(lb, b, c));
  const batchOut = broadcastShapes([batchA, batchB]);
  const ma = arrange(a, la, [...batch, ...I, ...K], [...batchA, prod(la, a, I), prod(la, a, K)]);
  const mb = arrange(b, lb, [...batch, ...K, ...J], [...batchB, prod(lb, b, K), prod(lb, b, J)]);
  const mm = ctx.emit("reduce", "matmul", [ma, mb], { dtype: a.type.dtype, shape: [...batchOut, prod(la, a, I), prod(lb, b, J)] }, { transA: [0], transB: [0] });
  const natural = [...batch, ...I, ...J];
  const naturalShape = [...batchOut, ...I.map((c) => sizeIn(la, a, c)), ...J.map((c) => sizeIn(lb, b, c))];
  let y = naturalShape.length !== mm.type.shape.length || naturalShape.some((d, i) => d !== mm.type.shape[i]) ? reshapeTo(ctx, mm, naturalShape) : mm;
  const perm = out.map((c) => natural.indexOf(c));
  if (perm.some((p, i) => p !== i)) y = ctx.emit("move", "transpose", [y], { dtype: y.type.dtype, shape: perm.map((p) => naturalShape[p]!) }, { perm });
  return [y];
};
