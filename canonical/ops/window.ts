/** Window geometry shared by convolutions and pools: padding, output sizes, and 1-D operators lowered as 2-D. */
import { attrInt, attrInts, attrString } from "../fold.js";
import { type LowerContext, type OperatorLowering, type Value, input, reshapeTo } from "./context.js";

export function spatialPads(ctx: LowerContext, inSpatial: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  const n = inSpatial.length;
  const autoPad = attrString(ctx.attributes, "auto_pad", "NOTSET");
  if (autoPad === "NOTSET") return attrInts(ctx.attributes, "pads") ?? new Array<number>(2 * n).fill(0);
  if (autoPad === "VALID") return new Array<number>(2 * n).fill(0);
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const begin: number[] = [];
    const end: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = Math.ceil(inSpatial[i]! / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - inSpatial[i]!);
      const small = Math.floor(total / 2);
      begin.push(autoPad === "SAME_UPPER" ? small : total - small);
      end.push(autoPad === "SAME_UPPER" ? total - small : small);
    }
    return [...begin, ...end];
  }
  throw ctx.fail(`auto_pad ${autoPad} is not supported`);
}

/**
 * Output sizes of a window operator. ceil_mode rounds up, but (as onnxruntime and PyTorch) a last
 * window must start inside the input or its begin padding; its positions past the end count as padding.
 */
export function windowOut(ctx: LowerContext, inSpatial: number[], kernel: number[], strides: number[], pads: number[], dilations: number[]): number[] {
  const n = inSpatial.length;
  const ceil = attrInt(ctx.attributes, "ceil_mode", 0) !== 0;
  if (ceil && ctx.opType !== "MaxPool" && ctx.opType !== "AveragePool") throw ctx.fail("ceil_mode 1 is not supported");
  return inSpatial.map((d, i) => {
    const span = d + pads[i]! + pads[i + n]! - ((kernel[i]! - 1) * dilations[i]! + 1);
    if (!ceil) return Math.floor(span / strides[i]!) + 1;
    let out = Math.ceil(span / strides[i]!) + 1;
    if ((out - 1) * strides[i]! >= d + pads[i]!) out--;
    return out;
  });
}

/**
 * A 1-D window operator (x [N, C, L]) as its 2-D form over [N, C, 1, L]: the same terms in the same
 * order (kh is always 0), attributes widened with a leading 1 (pads [0, begin, 0, end]); the result is
 * reshaped back to [N, C', L'].
 */
export function via2d(lower2d: OperatorLowering, weightInput?: number): OperatorLowering {
  return (ctx) => {
    const x = input(ctx, 0);
    if (x.type.shape.length !== 3) return lower2d(ctx);
    const widen = (v: Value): Value => reshapeTo(ctx, v, [...v.type.shape.slice(0, 2), 1, v.type.shape[2]!]);
    const inputs = ctx.inputs.map((v, i) => (v !== undefined && (i === 0 || i === weightInput) ? widen(v) : v));
    const attributes = new Map(ctx.attributes);
    for (const name of ["kernel_shape", "strides", "dilations"]) {
      const a = attributes.get(name);
      if (a?.type === "ints") attributes.set(name, { ...a, value: [1n, ...a.value] });
    }
    const pads = attributes.get("pads");
    if (pads?.type === "ints") attributes.set("pads", { ...pads, value: [0n, pads.value[0]!, 0n, pads.value[1]!] });
    const outShape = attributes.get("output_shape");
    if (outShape?.type === "ints") attributes.set("output_shape", { ...outShape, value: [1n, ...outShape.value] });
    const outPad = attributes.get("output_padding");
    if (outPad?.type === "ints") attributes.set("output_padding", { ...outPad, value: [0n, ...outPad.value] });
    const [y] = lower2d({ ...ctx, inputs, attributes });
    const shape = y!.type.shape;
    return [reshapeTo(ctx, y!, [shape[0]!, shape[1]!, shape[3]!])];
  };
}
