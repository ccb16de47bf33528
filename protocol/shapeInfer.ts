/** Static shape propagation for one ONNX node (protocol/shapeBounds.ts runs it over every graph). */
import type onnxProto from "onnx-proto";
import { BROADCAST, MAX_FOLDED, UNARY, attrInt, attrInts, attributeString, broadcast, floatConst, intValues, knownElements, lookup, num, type Scope, type Shape } from "./shapeScope.js";

type NodeProto = onnxProto.onnx.INodeProto;

/** Output shapes (and folded constants) of one node, where they can be known statically. */
export function inferNode(node: NodeProto, scope: Scope): { shapes: Shape[]; consts?: (number[] | undefined)[] } {
  const op = node.opType ?? "";
  const ins = node.input ?? [];
  const shape = (i: number): Shape => (ins[i] === undefined || ins[i] === "" ? undefined : lookup<Shape>(scope, "shapes", ins[i]!));
  const cnst = (i: number): number[] | undefined => (ins[i] === undefined || ins[i] === "" ? undefined : lookup<number[]>(scope, "consts", ins[i]!));
  if (op === "Constant") {
    const a = (node.attribute ?? [])[0];
    if (a?.t !== null && a?.t !== undefined) return { shapes: [(a.t.dims ?? []).map(num)], consts: [intValues(a.t)] };
    if (a?.name === "value_ints") return { shapes: [[(a.ints ?? []).length]], consts: [(a.ints ?? []).map(num)] };
    if (a?.name === "value_int") return { shapes: [[]], consts: [[num(a.i)]] };
    return { shapes: [undefined] };
  }
  if (op === "Identity" || op === "Cast") return { shapes: [shape(0)], consts: [cnst(0)] };
  if (UNARY.has(op)) return { shapes: [shape(0)] };
  if (BROADCAST.has(op)) {
    let s = shape(0);
    for (let i = 1; i < ins.length; i++) s = broadcast(s, shape(i));
    const a = cnst(0);
    const b = cnst(1);
    let folded: number[] | undefined;
    if (a !== undefined && b !== undefined && (op === "Add" || op === "Sub" || op === "Mul" || op === "Div") && (a.length === b.length || a.length === 1 || b.length === 1)) {
      const n = Math.max(a.length, b.length);
      folded = Array.from({ length: n }, (_, i) => {
        const x = a[a.length === 1 ? 0 : i]!;
        const y = b[b.length === 1 ? 0 : i]!;
        return op === "Add" ? x + y : op === "Sub" ? x - y : op === "Mul" ? x * y : y === 0 ? 0 : Math.trunc(x / y);
      });
    }
    return { shapes: [s], consts: [folded] };
  }
  switch (op) {
    case "Shape": {
      const s = shape(0);
      const known = s !== undefined && s.every((d) => d !== undefined);
      return { shapes: [[s?.length]], consts: [known ? (s as number[]) : undefined] };
    }
    case "Size":
      return { shapes: [[]] };
    case "ConstantOfShape": {
      const dims = cnst(0);
      return { shapes: [dims] };
    }
    case "Expand": {
      const dims = cnst(1);
      return { shapes: [dims === undefined ? undefined : broadcast(shape(0) ?? dims.map(() => undefined), dims)] };
    }
    case "Tile": {
      const reps = cnst(1);
      const s = shape(0);
      if (reps === undefined) return { shapes: [undefined] };
      return { shapes: [reps.map((r, i) => (s?.[i] === undefined ? (r > 1 ? r : undefined) : s[i]! * r))] };
    }
    case "Reshape": {
      const dims = cnst(1);
      if (dims === undefined) return { shapes: [undefined] };
      const s = shape(0);
      const out = dims.map((d, i) => (d === 0 ? s?.[i] : d === -1 ? undefined : d));
      const total = s !== undefined && s.every((d) => d !== undefined) ? knownElements(s) : undefined;
      const rest = knownElements(out);
      const inferred = dims.indexOf(-1);
      if (inferred >= 0 && total !== undefined && rest > 0 && out.every((d, i) => i === inferred || d !== undefined)) out[inferred] = Math.floor(total / rest);
      return { shapes: [out] };
    }
    case "Range": {
      const [start, limit, delta] = [cnst(0)?.[0], cnst(1)?.[0], cnst(2)?.[0]];
      if (start === undefined || limit === undefined || delta === undefined || delta === 0) return { shapes: [[undefined]] };
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      return { shapes: [[n]], consts: [n <= MAX_FOLDED ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined] };
    }
    case "Resize":
    case "Upsample": {
      const sizes = op === "Resize" ? cnst(3) : undefined;
      if (sizes !== undefined && sizes.length > 0) return { shapes: [sizes] };
      const s = shape(0);
      const scalesInput = op === "Resize" ? ins[2] : ins[1];
      const scales = scalesInput === undefined || scalesInput === "" ? undefined : floatConst(scope, scalesInput);
      if (s === undefined || scales === undefined || scales.length !== s.length) return { shapes: [undefined] };
      return { shapes: [s.map((d, i) => (d === undefined ? (scales[i]! > 1 ? Math.floor(scales[i]!) : undefined) : Math.floor(d * scales[i]!)))] };
    }
    case "Pad": {
      const s = shape(0);
      const pads = cnst(1) ?? attrInts(node, "pads");
      if (s === undefined || pads === undefined || pads.length !== 2 * s.length) return { shapes: [undefined] };
      return { shapes: [s.map((d, i) => (d === undefined ? undefined : d + pads[i]! + pads[i + s.length]!))] };
    }
    case "MatMul": {
      const a = shape(0);
      const b = shape(1);
      if (a === undefined || b === undefined || a.length < 2 || b.length < 2) return { shapes: [undefined] };
      const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
      return { shapes: [batch === undefined ? undefined : [...batch, a[a.length - 2], b[b.length - 1]]] };
    }
    case "Gemm": {
      const a = shape(0);
      const b = shape(1);
      if (a === undefined || b === undefined || a.length !== 2 || b.length !== 2) return { shapes: [undefined] };
      return { shapes: [[attrInt(node, "transA", 0) ? a[1] : a[0], attrInt(node, "transB", 0) ? b[0] : b[1]]] };
    }
    case "Concat": {
      const axis = attrInt(node, "axis", 0);
      const shapes = ins.map((_, i) => shape(i));
      const consts = ins.map((_, i) => cnst(i));
      const folded = consts.every((c) => c !== undefined) ? (consts as number[][]).flat() : undefined;
      if (shapes.some((s) => s === undefined)) return { shapes: [undefined], consts: [folded] };
      const first = shapes[0]!;
      const ax = axis < 0 ? axis + first.length : axis;
      const out = first.map((d, i) => (i === ax ? shapes.reduce<number | undefined>((acc, s) => (acc === undefined || s![i] === undefined ? undefined : acc + s![i]!), 0) : d));
      return { shapes: [out], consts: [folded] };
    }
    case "Unsqueeze": {
      const s = shape(0);
      const axes = cnst(1) ?? attrInts(node, "axes");
      if (s === undefined || axes === undefined) return { shapes: [undefined], consts: [cnst(0)] };
      const rank = s.length + axes.length;
      const at = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
      const out: (number | undefined)[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : s[k++]);
      return { shapes: [k === s.length ? out : undefined], consts: [cnst(0)] };
    }
    case "Squeeze": {
      const s = shape(0);
      const axes = cnst(1) ?? attrInts(node, "axes");
      if (s === undefined) return { shapes: [undefined], consts: [cnst(0)] };
      if (axes === undefined) return { shapes: [s.every((d) => d !== undefined) ? s.filter((d) => d !== 1) : undefined], consts: [cnst(0)] };
      const at = new Set(axes.map((a) => (a < 0 ? a + s.length : a)));
      return { shapes: [s.filter((_, i) => !at.has(i))], consts: [cnst(0)] };
    }
    case "Gather": {
      const axis = attrInt(node, "axis", 0);
      const s = shape(0);
      const idxShape = shape(1);
      const data = cnst(0);
      const idx = cnst(1);
      const folded = data !== undefined && idx !== undefined && axis === 0 && (s?.length ?? 1) <= 1 ? idx.map((i) => data[i < 0 ? i + data.length : i]!) : undefined;
      // data[:axis] + indices' shape + data[axis+1:]: indices of a large shape copy the data that often.
      let out: Shape;
      if (s !== undefined && idxShape !== undefined && s.length > 0) {
        const ax = axis < 0 ? axis + s.length : axis;
        out = [...s.slice(0, ax), ...idxShape, ...s.slice(ax + 1)];
      }
      return { shapes: [out], consts: [folded?.some((v) => v === undefined) ? undefined : folded] };
    }
    case "Slice": {
      const s = shape(0);
      const starts = cnst(1) ?? attrInts(node, "starts");
      const ends = cnst(2) ?? attrInts(node, "ends");
      if (s === undefined || starts === undefined || ends === undefined || starts.length !== ends.length) return { shapes: [undefined] };
      const axes = (ins.length > 3 ? cnst(3) : attrInts(node, "axes")) ?? starts.map((_, i) => i);
      const steps = (ins.length > 4 ? cnst(4) : undefined) ?? starts.map(() => 1);
      if (axes.length !== starts.length || steps.length !== starts.length || steps.some((st) => st === 0)) return { shapes: [undefined] };
      const out = [...s];
      const ranges: ([number, number, number] | undefined)[] = s.map((d) => (d === undefined ? undefined : [0, d, 1]));
      for (const [i, a] of axes.entries()) {
        const ax = a < 0 ? a + s.length : a;
        const d = s[ax];
        if (ax < 0 || ax >= s.length) return { shapes: [undefined] };
        if (d === undefined) {
          out[ax] = undefined;
          continue;
        }
        const step = steps[i]!;
        const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const start = step > 0 ? clamp(starts[i]!, 0, d) : clamp(starts[i]!, -1, d - 1);
        const end = step > 0 ? clamp(ends[i]!, 0, d) : clamp(ends[i]!, -1, d - 1);
        out[ax] = Math.max(0, Math.ceil((end - start) / step));
        ranges[ax] = [start, end, step];
      }
      // A slice of a small 1-D constant (a shape) folds: Shape(x)[2:4] is x's spatial size.
      const data = cnst(0);
      let folded: number[] | undefined;
      if (data !== undefined && s.length === 1 && ranges[0] !== undefined) {
        const [start, , step] = ranges[0];
        folded = Array.from({ length: out[0]! }, (_, i) => data[start + i * step]!);
        if (folded.some((v) => v === undefined)) folded = undefined;
      }
      return { shapes: [out], consts: [folded] };
    }
    case "Transpose": {
      const s = shape(0);
      if (s === undefined) return { shapes: [undefined] };
      const perm = attrInts(node, "perm") ?? s.map((_, i) => s.length - 1 - i);
      return { shapes: [perm.length === s.length ? perm.map((p) => s[p]) : undefined] };
    }
    case "Flatten": {
      const s = shape(0);
      if (s === undefined) return { shapes: [undefined] };
      const axis = attrInt(node, "axis", 1);
      const ax = axis < 0 ? axis + s.length : axis;
      const product = (ds: (number | undefined)[]) => (ds.some((d) => d === undefined) ? undefined : ds.reduce<number>((a, b) => a * b!, 1));
      return { shapes: [[product(s.slice(0, ax)), product(s.slice(ax))]] };
    }
    case "Conv":
    case "ConvInteger":
    case "QLinearConv":
    case "MaxPool":
    case "AveragePool":
    case "LpPool":
    case "ConvTranspose":
      return { shapes: [windowShape(node, op, shape(0), shape(op === "QLinearConv" ? 3 : 1)), ...(op === "MaxPool" ? [undefined] : [])] };
    case "ReduceMean":
    case "ReduceSum":
    case "ReduceMax":
    case "ReduceMin":
    case "ReduceProd":
    case "ReduceL1":
    case "ReduceL2":
    case "ReduceLogSum":
    case "ReduceLogSumExp":
    case "ReduceSumSquare":
    case "ArgMax":
    case "ArgMin": {
      const s = shape(0);
      const arg = op.startsWith("Arg");
      const axes = arg ? [attrInt(node, "axis", 0)] : (attrInts(node, "axes") ?? (ins.length > 1 ? cnst(1) : undefined));
      if (s === undefined || (axes === undefined && ins.length > 1 && ins[1] !== "")) return { shapes: [undefined] };
      const keep = attrInt(node, "keepdims", 1) === 1;
      const noop = !arg && axes === undefined && attrInt(node, "noop_with_empty_axes", 0) === 1;
      if (noop) return { shapes: [s] };
      const at = new Set((axes ?? s.map((_, i) => i)).map((a) => (a < 0 ? a + s.length : a)));
      return { shapes: [keep ? s.map((d, i) => (at.has(i) ? 1 : d)) : s.filter((_, i) => !at.has(i))] };
    }
    case "GlobalAveragePool":
    case "GlobalMaxPool":
    case "GlobalLpPool": {
      const s = shape(0);
      return { shapes: [s === undefined || s.length < 2 ? undefined : [s[0], s[1], ...s.slice(2).map(() => 1)]] };
    }
    default:
      return { shapes: (node.output ?? []).map(() => undefined) };
  }
}

/**
 * The output shape of a sliding-window operator (Conv, ConvTranspose, pooling) from its input's shape
 * [N, C, D1..Dn], the weight's shape ([M, C/group, k1..kn]; [C, M/group, k...] for ConvTranspose) and
 * its attributes. Unknown where an input dimension or the kernel is unknown; never an overestimate.
 */
export function windowShape(node: NodeProto, op: string, x: Shape, w: Shape): Shape {
  if (x === undefined || x.length < 3) return undefined;
  const n = x.length - 2;
  const pooling = op.endsWith("Pool");
  const kernel = attrInts(node, "kernel_shape") ?? (pooling ? undefined : w?.slice(2));
  if (kernel === undefined || kernel.length !== n || kernel.some((k) => k === undefined)) return undefined;
  const strides = attrInts(node, "strides") ?? kernel.map(() => 1);
  const dilations = attrInts(node, "dilations") ?? kernel.map(() => 1);
  const pads = attrInts(node, "pads") ?? kernel.flatMap(() => [0, 0]);
  const autoPad = attributeString(node, "auto_pad") ?? "NOTSET";
  const ceil = attrInt(node, "ceil_mode", 0) === 1;
  if (strides.length !== n || dilations.length !== n || pads.length !== 2 * n) return undefined;
  let channels: number | undefined;
  if (pooling) channels = x[1];
  else if (op === "ConvTranspose") channels = w?.[1] === undefined ? undefined : w[1] * attrInt(node, "group", 1);
  else channels = w?.[0];
  const spatial = x.slice(2).map((d, i): number | undefined => {
    const k = (kernel[i]! - 1) * dilations[i]! + 1;
    const s = strides[i]!;
    if (op === "ConvTranspose") {
      const outputShape = attrInts(node, "output_shape");
      if (outputShape !== undefined && outputShape.length === n) return outputShape[i];
      if (d === undefined) return undefined;
      const outputPadding = attrInts(node, "output_padding")?.[i] ?? 0;
      // SAME_*: in·s, or the unpadded size where a kernel shorter than the stride gives less (onnxruntime).
      if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.min(d * s, s * (d - 1) + outputPadding + k);
      return s * (d - 1) + outputPadding + k - (autoPad === "VALID" ? 0 : pads[i]! + pads[i + n]!);
    }
    if (d === undefined || s <= 0) return undefined;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.ceil(d / s);
    const padded = d + (autoPad === "VALID" ? 0 : pads[i]! + pads[i + n]!) - k;
    return (ceil ? Math.ceil(padded / s) : Math.floor(padded / s)) + 1;
  });
  const out = [x[0], channels, ...spatial];
  return out.map((d) => (d === undefined || !Number.isFinite(d) || d < 0 ? undefined : d));
}
