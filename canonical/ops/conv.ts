/** Convolutions: Conv (1-D, 2-D, 3-D) and ConvTranspose. */
import type { DType } from "../../protocol/tensor.js";
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
 * ConvTranspose (2-D): out[n, m, oh, ow] = fl(fold(init, terms)), terms (c, kh, kw) row-major over the
 * group's input channels; term = x[n, c, ih, iw] · w[c, m, kh, kw] where oh = ih·sh − ph + kh·dh (same
 * for w), or +0 where no such input coordinate exists.
 */
export const ConvTranspose: OperatorLowering = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  const b = ctx.inputs[2];
  checkDtype(ctx, x, FLOAT);
  if (x.type.shape.length !== 4 || w.type.shape.length !== 4) throw ctx.fail(`only 1-D and 2-D transposed convolutions are supported (input rank ${x.type.shape.length})`);
  const [n, c, h, wd] = x.type.shape as [number, number, number, number];
  const [cw, mg, kh, kw] = w.type.shape as [number, number, number, number];
  const group = attrInt(ctx.attributes, "group", 1);
  if (cw !== c || c % group !== 0) throw ctx.fail(`channels ${c} do not match weight [${w.type.shape}] with group ${group}`);
  if (attrString(ctx.attributes, "auto_pad", "NOTSET") !== "NOTSET" || ctx.attributes.has("output_shape")) throw ctx.fail("auto_pad and output_shape are not supported");
  const strides = attrInts(ctx.attributes, "strides") ?? [1, 1];
  const dilations = attrInts(ctx.attributes, "dilations") ?? [1, 1];
  const pads = attrInts(ctx.attributes, "pads") ?? [0, 0, 0, 0];
  const outPad = attrInts(ctx.attributes, "output_padding") ?? [0, 0];
  const m = mg * group;
  const oh = (h - 1) * strides[0]! - pads[0]! - pads[2]! + dilations[0]! * (kh - 1) + outPad[0]! + 1;
  const ow = (wd - 1) * strides[1]! - pads[1]! - pads[3]! + dilations[1]! * (kw - 1) + outPad[1]! + 1;
  const operands = [x, w];
  if (b !== undefined) {
    if (b.type.shape.length !== 1 || b.type.shape[0] !== m) throw ctx.fail("bias must have shape [M]");
    operands.push(b);
  }
  return [ctx.emit("reduce", "convtranspose", operands, { dtype: x.type.dtype, shape: [n, m, oh, ow] }, { group: [group], strides, pads, dilations })];
};
