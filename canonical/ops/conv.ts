/** Convolutions: Conv and ConvTranspose (1-D, 2-D, 3-D). */
import type { DType } from "../../protocol/index.js";
import { attrInt, attrInts, attrString } from "../fold.js";
import { FLOAT, type LowerContext, type OperatorLowering, type Value, checkDtype, input } from "./context.js";
import { spatialPads, via2d, windowOut } from "./window.js";

export const Conv2d: OperatorLowering = (ctx) => {
  checkDtype(ctx, input(ctx, 0), FLOAT);
  if (input(ctx, 0).type.shape.length === 5) return conv3d(ctx, input(ctx, 0), input(ctx, 1), ctx.inputs[2]);
  return conv2d(ctx, input(ctx, 0), input(ctx, 1), ctx.inputs[2]);
};

/** The conv3d step (NCDHW): terms (c, kd, kh, kw) row-major, init bias[m] or +0. */
export function conv3d(ctx: LowerContext, x: Value, w: Value, b: Value | undefined): Value[] {
  if (w.type.shape.length !== 5) throw ctx.fail(`weight [${w.type.shape}] is not 5-D`);
  const [n, c, ...spatial] = x.type.shape as [number, number, number, number, number];
  const [m, cg, ...k] = w.type.shape as [number, number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (c !== cg * group || m % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? k;
  if (kernel.some((d, i) => d !== k[i])) throw ctx.fail("kernel_shape does not match the weight");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1, 1];
  const pads = spatialPads(ctx, spatial, kernel, strides, dilations);
  const outSpatial = windowOut(ctx, spatial, kernel, strides, pads, dilations);
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  return [ctx.emit("reduce", "conv3d", operands, { dtype: x.type.dtype, shape: [n, m, ...outSpatial] }, { group: [group], strides, pads, dilations })];
}

/** The conv step of x and w (float; or integer operands, folded in int32) with an optional bias (the init). */
export function conv2d(ctx: LowerContext, x: Value, w: Value, b: Value | undefined): Value[] {
  if (x.type.shape.length !== 4 || w.type.shape.length !== 4) throw ctx.fail(`only 1-D, 2-D and 3-D convolutions are supported (input rank ${x.type.shape.length})`);
  const [n, c, h, wd] = x.type.shape as [number, number, number, number];
  const [m, cg, kh, kw] = w.type.shape as [number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (c !== cg * group || m % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? [kh, kw];
  if (kernel[0] !== kh || kernel[1] !== kw) throw ctx.fail("kernel_shape does not match the weight");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1];
  const pads = spatialPads(ctx, [h, wd], kernel, strides, dilations);
  const [oh, ow] = windowOut(ctx, [h, wd], kernel, strides, pads, dilations);
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  const dtype: DType = FLOAT.has(x.type.dtype) ? x.type.dtype : "int32";
  return [ctx.emit("reduce", "conv", operands, { dtype, shape: [n, m, oh!, ow!] }, { group: [group], strides, pads, dilations })];
}

export const Conv = via2d(Conv2d, 1);

/**
 * ConvTranspose's padding and output size per spatial axis. Explicit pads (NOTSET without output_shape):
 * out = (in − 1)·s − pb − pe + d·(k − 1) + output_padding + 1. With output_shape (the spatial sizes) or
 * auto_pad SAME_* (out = min(in·s, the size without padding)), the total padding is (in − 1)·s + output_padding +
 * d·(k − 1) + 1 − out, split as the ONNX spec and onnxruntime split it: SAME_UPPER puts the odd unit at the
 * end, SAME_LOWER and NOTSET (with output_shape) at the begin. VALID: no padding. An output_shape wider than
 * the natural size is refused (onnxruntime refuses it too).
 */
export function transposeGeometry(ctx: LowerContext, inSpatial: number[], kernel: number[], strides: number[], dilations: number[], outPad: number[]): { pads: number[]; out: number[] } {
  const n = inSpatial.length;
  const autoPad = attrString(ctx.attributes, "auto_pad", "NOTSET");
  if (!["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].includes(autoPad)) throw ctx.fail(`auto_pad ${autoPad} is not supported`);
  const natural = (i: number, pb: number, pe: number): number => (inSpatial[i]! - 1) * strides[i]! - pb - pe + dilations[i]! * (kernel[i]! - 1) + outPad[i]! + 1;
  const given = attrInts(ctx.attributes, "output_shape");
  if (given === undefined && (autoPad === "NOTSET" || autoPad === "VALID")) {
    const pads = autoPad === "VALID" ? new Array<number>(2 * n).fill(0) : (attrInts(ctx.attributes, "pads") ?? new Array<number>(2 * n).fill(0));
    if (pads.length !== 2 * n || pads.some((p) => p < 0)) throw ctx.fail(`pads [${pads}] must be ${2 * n} non-negative values`);
    const out = inSpatial.map((_, i) => natural(i, pads[i]!, pads[i + n]!));
    if (out.some((d) => d < 1)) throw ctx.fail(`pads [${pads}] leave no output (sizes [${out}])`);
    return { pads, out };
  }
  if (given !== undefined && given.length !== n) throw ctx.fail(`output_shape [${given}] must hold the ${n} spatial sizes`);
  // SAME_*: out = in·s, or the natural size where that is smaller (a kernel shorter than the stride: onnxruntime
  // pads max(0, natural − in·s) in total).
  const out = given ?? inSpatial.map((d, i) => Math.min(d * strides[i]!, natural(i, 0, 0)));
  if (out.some((d) => d < 1)) throw ctx.fail(`output_shape [${given}] must be positive`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < n; i++) {
    const total = natural(i, 0, 0) - out[i]!;
    if (total < 0) throw ctx.fail(`output_shape [${given}] is wider than the input gives (${natural(i, 0, 0)} along spatial axis ${i})`);
    const half = Math.floor(total / 2);
    begin.push(autoPad === "SAME_UPPER" ? half : total - half);
    end.push(autoPad === "SAME_UPPER" ? total - half : half);
  }
  return { pads: [...begin, ...end], out };
}

/**
 * ConvTranspose (2-D; 3-D as `convtranspose3d`): out[n, m, (od,) oh, ow] = fl(fold(init, terms)), terms
 * (c, (kd,) kh, kw) row-major over the group's input channels; term = x[n, c, (id,) ih, iw] · w[c, m − g·Mg,
 * (kd,) kh, kw] where oh = ih·sh − ph + kh·dh (same for d and w), or +0 where no such input coordinate
 * exists. Padding and output size: transposeGeometry.
 */
export const ConvTranspose: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  const b = ctx.inputs[2];
  checkDtype(ctx, x, FLOAT);
  const rank = x.type.shape.length;
  if ((rank !== 4 && rank !== 5) || w.type.shape.length !== rank) throw ctx.fail(`only 1-D, 2-D and 3-D transposed convolutions are supported (input rank ${rank}, weight rank ${w.type.shape.length})`);
  const [n, c, ...spatial] = x.type.shape as number[];
  const [cw, mg, ...k] = w.type.shape as number[];
  const axes = spatial.length;
  const group = attrInt(ctx.attributes, "group", 1);
  if (group < 1 || cw !== c || c! % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  const kernel = attrInts(ctx.attributes, "kernel_shape") ?? k;
  if (kernel.length !== axes || kernel.some((d, i) => d !== k[i])) throw ctx.fail("kernel_shape does not match the weight");
  const perAxis = (name: string, fallback: number, min: number): number[] => {
    const v = attrInts(ctx.attributes, name) ?? new Array<number>(axes).fill(fallback);
    if (v.length !== axes || v.some((d) => !Number.isInteger(d) || d < min)) throw ctx.fail(`${name} [${v}] must be ${axes} values of at least ${min}`);
    return v;
  };
  const strides = perAxis("strides", 1, 1);
  const dilations = perAxis("dilations", 1, 1);
  const outPad = perAxis("output_padding", 0, 0);
  const { pads, out } = transposeGeometry(ctx, spatial, kernel, strides, dilations, outPad);
  const m = mg! * group;
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  const op = axes === 3 ? "convtranspose3d" : "convtranspose";
  return [ctx.emit("reduce", op, operands, { dtype: x.type.dtype, shape: [n!, m, ...out] }, { group: [group], strides, pads, dilations })];
};
