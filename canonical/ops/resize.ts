/**
 * Resize and Upsample: nearest (asymmetric coordinates, floor: one resize_nearest move; other coordinate
 * modes and roundings: a constant-index gather per resized axis) and linear (a resize_linear reduce over the
 * corners of each output element's cell, with exact rational coordinates: kernels/resize.ts); and the
 * block rearrangements DepthToSpace and SpaceToDepth.
 */
import { attrInt, attrString } from "../fold.js";
import { MAX_RESIZE_DIVISOR } from "../kernels/resize.js";
import { MAX_CONSTANT_INDICES } from "./shape.js";
import { FLOAT, type LowerContext, type OperatorLowering, checkDtype, constantValues, input, reshapeTo } from "./context.js";

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** A float32 scale as an exact ratio p / q (q a power of two), reduced; undefined past 2^53. */
function ratioOf(s: number): [number, number] | undefined {
  let q = 1;
  while (!Number.isInteger(s * q) && q < 2 ** 60) q *= 2;
  const p = s * q;
  if (!Number.isSafeInteger(p) || !Number.isSafeInteger(q)) return undefined;
  const g = gcd(p, q);
  return [p / g, q / g];
}

interface Target {
  shape: number[];
  /** The float32 scales (nearest's parameter). */
  scales: number[];
  /** Per axis, the exact scale out/in as [p, q]: the scale given, or sizes[d] / in[d]. */
  ratios: ([number, number] | undefined)[];
}

function fromScales(inShape: number[], scales: number[]): Target {
  const s = scales.map(Math.fround);
  return { shape: inShape.map((d, i) => Math.floor(d * s[i]!)), scales: s, ratios: s.map(ratioOf) };
}

function targetOf(ctx: LowerContext, inShape: number[]): Target {
  const scalesIndex = ctx.opset >= 11 ? 2 : 1;
  const scales = constantValues(ctx, scalesIndex);
  const sizes = ctx.opset >= 11 ? constantValues(ctx, 3) : undefined;
  const rank = inShape.length;
  if (scales !== undefined && scales.length === rank) return fromScales(inShape, scales);
  if (sizes !== undefined && sizes.length === rank) {
    return { shape: sizes, scales: sizes.map((d, i) => Math.fround(d / inShape[i]!)), ratios: sizes.map((d, i) => [d / gcd(d, inShape[i]!), inShape[i]! / gcd(d, inShape[i]!)]) };
  }
  throw ctx.fail("scales or sizes of the input's rank are required");
}

/**
 * The source coordinate of output o along one axis as (num·o + off) / den, from the ONNX
 * coordinate_transformation_mode and the exact scale p / q (out = floor(in · p / q), or the size given).
 */
function coordinate(ctx: LowerContext, mode: string, ratio: [number, number] | undefined, size: number, out: number, nearest = false): [number, number, number] {
  if ((mode === "align_corners" || mode === "pytorch_half_pixel") && out === 1) return [0, 0, 1];
  if (mode === "align_corners") return [size - 1, 0, out - 1];
  if (ratio === undefined) throw ctx.fail("a scale that is no exact ratio of integers below 2^53 is not supported");
  const [p, q] = ratio;
  if (mode === "asymmetric") return [q, 0, p];
  if (mode === "half_pixel" || mode === "pytorch_half_pixel") return [2 * q, q - p, 2 * p]; // (o + ½)·q/p − ½
  if (mode === "tf_half_pixel_for_nn" && nearest) return [2 * q, q, 2 * p]; // (o + ½)·q/p
  if (nearest) throw ctx.fail(`coordinate_transformation_mode ${mode} is not supported with mode nearest (half_pixel, pytorch_half_pixel, asymmetric, align_corners, tf_half_pixel_for_nn)`);
  throw ctx.fail(`coordinate_transformation_mode ${mode} is not supported with mode linear (half_pixel, pytorch_half_pixel, asymmetric, align_corners)`);
}

function resizeLinear(ctx: LowerContext, target: Target, mode: string): ReturnType<OperatorLowering> {
  const x = input(ctx, 0);
  checkDtype(ctx, x, FLOAT);
  const inShape = x.type.shape;
  const axes: number[] = [];
  const num: number[] = [];
  const off: number[] = [];
  const den: number[] = [];
  for (let d = 0; d < inShape.length; d++) {
    const out = target.shape[d]!;
    if (out < 1) throw ctx.fail(`output size ${out} along axis ${d}`);
    let [a, b, c] = coordinate(ctx, mode, target.ratios[d], inShape[d]!, out);
    const g = gcd(gcd(a, b), c);
    [a, b, c] = [a / g, b / g, c / g];
    if (a === c && b === 0 && out === inShape[d]) continue; // the identity: not resized
    if (!Number.isSafeInteger(a * (out - 1) + Math.abs(b))) throw ctx.fail(`the coordinates along axis ${d} exceed 2^53`);
    axes.push(d);
    num.push(a);
    off.push(b);
    den.push(c);
  }
  const divisor = den.reduce((p, v) => p * v, 1);
  if (divisor > MAX_RESIZE_DIVISOR) {
    throw ctx.fail(`the exact coordinates need a divisor of ${divisor} (the product of [${den}]), above 2^24 (MAX_RESIZE_DIVISOR: each corner's weight must stay exact)`);
  }
  if (axes.length === 0) return [ctx.emit("move", "reshape", [x], x.type)];
  return [ctx.emit("reduce", "resize_linear", [x], { dtype: x.type.dtype, shape: target.shape }, { axes, num, off, den })];
}

/** floor(n / c) for integers (c > 0), exactly. */
function floorDiv(n: number, c: number): number {
  const r = ((n % c) + c) % c;
  return (n - r) / c;
}

/** ONNX nearest_mode on the exact coordinate n / c. */
function roundNearest(ctx: LowerContext, rounding: string, n: number, c: number): number {
  const f = floorDiv(n, c);
  const twice = 2 * (n - f * c);
  if (rounding === "floor") return f;
  if (rounding === "ceil") return twice === 0 ? f : f + 1;
  if (rounding === "round_prefer_floor") return twice > c ? f + 1 : f;
  if (rounding === "round_prefer_ceil") return twice >= c ? f + 1 : f;
  throw ctx.fail(`nearest_mode ${rounding} is not supported`);
}

/**
 * Resize nearest in any other coordinate mode or rounding: the source index of every output position is
 * fixed at lowering (the exact rational coordinate, rounded by nearest_mode, clamped into [0, size − 1]),
 * so each resized axis is one `move gather` with those constant indices.
 */
function resizeNearestGather(ctx: LowerContext, target: Target, mode: string, rounding: string): ReturnType<OperatorLowering> {
  let v = input(ctx, 0);
  const inShape = v.type.shape;
  for (let d = 0; d < inShape.length; d++) {
    const out = target.shape[d]!;
    if (out < 1) throw ctx.fail(`output size ${out} along axis ${d}`);
    const [a, b, c] = coordinate(ctx, mode, target.ratios[d], inShape[d]!, out, true);
    const indices = Array.from({ length: out }, (_, o) => Math.min(Math.max(roundNearest(ctx, rounding, a * o + b, c), 0), inShape[d]! - 1));
    if (out === inShape[d] && indices.every((i, o) => i === o)) continue;
    if (out > MAX_CONSTANT_INDICES) throw ctx.fail(`${out} output positions along axis ${d}: a gather step carries at most ${MAX_CONSTANT_INDICES} indices (MAX_CONSTANT_INDICES)`);
    const shape = [...v.type.shape];
    shape[d] = out;
    v = ctx.emit("move", "gather", [v], { dtype: v.type.dtype, shape }, { axis: [d], indices });
  }
  return [v === input(ctx, 0) ? ctx.emit("move", "reshape", [v], v.type) : v];
}

/** Resize (and its opset-10 form): nearest (asymmetric/floor: resize_nearest; other modes: gathers), or linear. */
export const Resize: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const mode = attrString(ctx.attributes, "mode", "nearest");
  // Opset 10 has no coordinate_transformation_mode: its coordinates are asymmetric.
  const ctm = attrString(ctx.attributes, "coordinate_transformation_mode", ctx.opset >= 11 ? "half_pixel" : "asymmetric");
  if (attrInt(ctx.attributes, "antialias", 0) !== 0) throw ctx.fail("antialias is not supported");
  if (ctx.attributes.has("axes")) throw ctx.fail("the axes attribute is not supported");
  if (attrString(ctx.attributes, "keep_aspect_ratio_policy", "stretch") !== "stretch") throw ctx.fail("keep_aspect_ratio_policy other than stretch is not supported");
  const target = targetOf(ctx, x.type.shape);
  if (mode === "linear") return resizeLinear(ctx, target, ctm);
  if (mode !== "nearest") throw ctx.fail(`mode ${mode} is not supported (nearest, linear)`);
  const rounding = attrString(ctx.attributes, "nearest_mode", "round_prefer_floor");
  if (ctm !== "asymmetric" || rounding !== "floor") return resizeNearestGather(ctx, target, ctm, rounding);
  return [ctx.emit("move", "resize_nearest", [x], { dtype: x.type.dtype, shape: target.shape }, { scales: target.scales })];
};

/**
 * Upsample (opset 7–9; Resize replaced it at 10): scales as an attribute (opset 7) or input 1 (opset 9),
 * asymmetric coordinates; nearest (floor: resize_nearest) or linear (resize_linear).
 */
export const Upsample: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const attr = ctx.attributes.get("scales");
  const scales = ctx.opset >= 9 ? constantValues(ctx, 1) : attr?.type === "floats" ? attr.value : undefined;
  if (scales === undefined || scales.length !== x.type.shape.length) throw ctx.fail("scales of the input's rank are required");
  const target = fromScales(x.type.shape, scales);
  const mode = attrString(ctx.attributes, "mode", "nearest");
  if (mode === "linear") return resizeLinear(ctx, target, "asymmetric");
  if (mode !== "nearest") throw ctx.fail(`mode ${mode} is not supported (nearest, linear)`);
  return [ctx.emit("move", "resize_nearest", [x], { dtype: x.type.dtype, shape: target.shape }, { scales: target.scales })];
};

/**
 * DepthToSpace (DCR or CRD) and SpaceToDepth: a reshape to rank 6, one transpose, a reshape back (moves
 * only: every element copied, bit for bit).
 */
export function blocks(toSpace: boolean): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    if (x.type.shape.length !== 4) throw ctx.fail(`input rank ${x.type.shape.length} (4 is required)`);
    const [n, c, h, w] = x.type.shape as [number, number, number, number];
    const b = attrInt(ctx.attributes, "blocksize", 0);
    if (b < 1) throw ctx.fail("blocksize must be positive");
    let view: number[];
    let perm: number[];
    let out: number[];
    if (toSpace) {
      if (c % (b * b) !== 0) throw ctx.fail(`channels ${c} are not a multiple of blocksize² ${b * b}`);
      const crd = attrString(ctx.attributes, "mode", "DCR") === "CRD";
      view = crd ? [n, c / (b * b), b, b, h, w] : [n, b, b, c / (b * b), h, w];
      perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
      out = [n, c / (b * b), h * b, w * b];
    } else {
      if (h % b !== 0 || w % b !== 0) throw ctx.fail(`spatial size [${h},${w}] is not a multiple of blocksize ${b}`);
      view = [n, c, h / b, b, w / b, b];
      perm = [0, 3, 5, 1, 2, 4];
      out = [n, c * b * b, h / b, w / b];
    }
    const v = reshapeTo(ctx, x, view);
    const t = ctx.emit("move", "transpose", [v], { dtype: v.type.dtype, shape: perm.map((p) => view[p]!) }, { perm });
    return [reshapeTo(ctx, t, out)];
  };
}
