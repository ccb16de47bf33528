/**
 * Operator coverage (issue 14): each newly lowered operator on single-node graphs built here, every
 * attribute form and broadcasting, lowered and run canonically against onnxruntime-node (graph
 * optimizations disabled; the max abs difference printed), and every element of every step evaluated
 * alone by canonical/element.ts, bit for bit equal to the runtime's kernels.
 */
import { describe, expect, it } from "vitest";
import { finalizeReduce, foldPartials, mapElement, moveElement, reduceTerms } from "../../canonical/element.js";
import { lowerModel, runProgram, type Precision, type Program } from "../../canonical/index.js";
import { isError, type Tensor } from "../../protocol/index.js";
import { maxDiff, ortRun } from "./helpers.js";
import { buildModel, values, type Attr, type InitSpec, type NodeSpec } from "./onnx-builder.js";

const f = (name: string, shape: number[], seed: number, lo = -1, hi = 1): InitSpec => ({ name, dtype: "float32", shape, values: values(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });
const i64 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int64", shape, values: v });
const i32 = (name: string, v: number[], shape = [v.length]): InitSpec => ({ name, dtype: "int32", shape, values: v });
const fs = (name: string, v: number[]): InitSpec => ({ name, dtype: "float32", shape: [v.length], values: v });
const ints = (v: number[]): Attr => ({ ints: v });
const int = (v: number): Attr => ({ i: v });
const str = (v: string): Attr => ({ s: v });
const node = (op: string, inputs: string[], outputs: string[], attrs?: Record<string, Attr>): NodeSpec => ({ op, inputs, outputs, attrs });

interface Case {
  name: string;
  shape: number[];
  dtype?: "float32" | "int32" | "int8" | "uint8";
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
  /** Largest abs difference allowed against onnxruntime (0: bit-identical). */
  tol: number;
  range?: [number, number];
  /** Input values rounded to integers (float input): ties for comparisons. */
  integral?: boolean;
  /** The step kinds:ops the lowering must produce. */
  steps?: string[];
}

const X = [2, 3, 4];

const CASES: Case[] = [
  // Where and comparisons
  { name: "Where Greater broadcast", shape: X, nodes: [node("Greater", ["x", "c"], ["m"]), node("Where", ["m", "x", "d"], ["y"])], inits: [f("c", [4], 1), f("d", [3, 1], 2)], tol: 0, steps: ["map:greater", "map:where"] },
  { name: "Where scalar branches", shape: X, nodes: [node("Less", ["x", "z"], ["m"]), node("Where", ["m", "a", "b"], ["y"])], inits: [f("z", [], 3), f("a", [], 4), f("b", [1, 1, 4], 5)], tol: 0 },
  { name: "Where int32", shape: X, dtype: "int32", nodes: [node("Less", ["x", "k"], ["m"]), node("Where", ["m", "x", "v"], ["y"])], inits: [i32("k", [0]), i32("v", [7, -7, 1000, -1000])], tol: 0, range: [-50, 50] },
  { name: "Equal float ties", shape: X, nodes: one("Equal", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [4], values: [-1, 0, 1, 2] }], integral: true, range: [-3, 3], tol: 0 },
  { name: "LessOrEqual ties", shape: X, nodes: one("LessOrEqual", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [3, 1], values: [-1, 0, 1] }], integral: true, range: [-3, 3], tol: 0 },
  { name: "GreaterOrEqual ties", shape: X, nodes: one("GreaterOrEqual", ["c"]), inits: [{ name: "c", dtype: "float32", shape: [], values: [0] }], integral: true, range: [-3, 3], tol: 0 },
  { name: "Equal int32", shape: X, dtype: "int32", nodes: one("Equal", ["c"]), inits: [i32("c", [1, 0, -1, 2])], range: [-3, 3], tol: 0 },
  { name: "Greater int32", shape: X, dtype: "int32", nodes: one("Greater", ["c"]), inits: [i32("c", [0], [1])], range: [-3, 3], tol: 0 },
  // logical
  {
    name: "Not And Or Xor",
    shape: X,
    nodes: [node("Greater", ["x", "z"], ["a"]), node("Less", ["x", "h"], ["b"]), node("And", ["a", "b"], ["ab"]), node("Not", ["a"], ["na"]), node("Or", ["ab", "na"], ["o"]), node("Xor", ["o", "b"], ["y"])],
    inits: [f("z", [1], 6), f("h", [4], 7)],
    tol: 0,
    steps: ["map:greater", "map:less", "map:and", "map:not", "map:or", "map:xor"],
  },
  { name: "Equal bool", shape: X, nodes: [node("Greater", ["x", "z"], ["a"]), node("Less", ["x", "h"], ["b"]), node("Equal", ["a", "b"], ["y"])], inits: [f("z", [1], 8), f("h", [3, 1], 9)], tol: 0 },
  // PRelu
  { name: "PRelu per channel", shape: [2, 3, 4, 5], nodes: one("PRelu", ["s"]), inits: [f("s", [3, 1, 1], 10)], tol: 0 },
  { name: "PRelu scalar", shape: X, nodes: one("PRelu", ["s"]), inits: [f("s", [1], 11)], tol: 0 },
  { name: "PRelu full", shape: X, nodes: one("PRelu", ["s"]), inits: [f("s", X, 12)], tol: 0 },
  // Gather, GatherElements
  { name: "Gather axis 0 2-D indices", shape: [5, 3], nodes: one("Gather", ["i"], { axis: int(0) }), inits: [i64("i", [4, 0, -1, 2, 2, -5], [2, 3])], tol: 0, steps: ["move:gather"] },
  { name: "Gather axis 1 negative", shape: X, nodes: one("Gather", ["i"], { axis: int(1) }), inits: [i64("i", [-1, 0])], tol: 0 },
  { name: "Gather scalar index last axis", shape: X, nodes: one("Gather", ["i"], { axis: int(-1) }), inits: [i64("i", [2], [])], tol: 0 },
  { name: "Gather int32 data", shape: X, dtype: "int32", nodes: one("Gather", ["i"], { axis: int(2) }), inits: [i32("i", [3, 3, 0])], tol: 0, range: [-1000, 1000] },
  { name: "Gather Range indices folded", shape: [6, 2], nodes: [node("Range", ["s", "l", "d"], ["r"]), node("Gather", ["x", "r"], ["y"])], inits: [i64("s", [5], []), i64("l", [-1], []), i64("d", [-2], [])], tol: 0, steps: ["move:gather"] },
  { name: "GatherElements axis 1", shape: X, nodes: one("GatherElements", ["i"], { axis: int(1) }), inits: [i64("i", [0, 2, -1, 1, 1, 0, 2, 2, -3, 0, 1, 2, 2, 1, 0, 0, 1, 1, 2, 2, 0, 0, 0, 0], [2, 3, 4])], tol: 0, steps: ["move:gather_elements"] },
  { name: "GatherElements smaller indices", shape: X, nodes: one("GatherElements", ["i"], { axis: int(-1) }), inits: [i64("i", [3, 0, -1, 1, 2, 0], [2, 1, 3])], tol: 0 },
  // Pad, Tile, Split
  { name: "Pad constant value", shape: X, nodes: one("Pad", ["p", "v"]), inits: [i64("p", [0, 1, 2, 1, 0, 3]), f("v", [], 13)], tol: 0, steps: ["move:pad"] },
  { name: "Pad constant default crop", shape: X, nodes: one("Pad", ["p"]), inits: [i64("p", [1, -1, 0, 0, 0, -2])], tol: 0 },
  { name: "Pad reflect", shape: X, nodes: one("Pad", ["p"], { mode: str("reflect") }), inits: [i64("p", [1, 2, 3, 0, 2, 3])], tol: 0 },
  { name: "Pad edge", shape: X, nodes: one("Pad", ["p"], { mode: str("edge") }), inits: [i64("p", [0, 3, 5, 2, 0, 4])], tol: 0 },
  { name: "Pad opset 18 axes", shape: X, nodes: one("Pad", ["p", "", "a"], { mode: str("reflect") }), inits: [i64("p", [2, 1, 3, 1]), i64("a", [-1, 1])], opset: 18, tol: 0 },
  { name: "Pad opset 2 attributes", shape: X, nodes: one("Pad", [], { pads: ints([0, 0, 1, 0, 0, 2]), value: { f: 2.5 } }), opset: 2, tol: 0 },
  { name: "Pad int32 edge", shape: X, dtype: "int32", nodes: one("Pad", ["p"], { mode: str("edge") }), inits: [i64("p", [1, 0, 1, 0, 1, 1])], tol: 0, range: [-9, 9] },
  { name: "Tile", shape: X, nodes: one("Tile", ["r"]), inits: [i64("r", [2, 1, 3])], tol: 0, steps: ["move:tile"] },
  { name: "Tile ConstantOfShape repeats", shape: X, nodes: [node("ConstantOfShape", ["n"], ["r"], { value: { t: i64("v", [2], [1]) } }), node("Tile", ["x", "r"], ["y"])], inits: [i64("n", [3])], tol: 0, steps: ["move:tile"] },
  { name: "Split equal default", shape: [2, 6, 2], nodes: [node("Split", ["x"], ["a", "b", "c"], { axis: int(1) }), node("Concat", ["c", "a", "b"], ["y"], { axis: int(1) })], tol: 0, steps: ["move:slice", "move:slice", "move:slice", "move:concat"] },
  { name: "Split sizes input", shape: [2, 6, 2], nodes: [node("Split", ["x", "s"], ["a", "b"], { axis: int(-2) }), node("Concat", ["b", "a"], ["y"], { axis: int(1) })], inits: [i64("s", [2, 4])], tol: 0 },
  { name: "Split opset 11 attribute", shape: [5, 2], nodes: [node("Split", ["x"], ["a", "b"], { split: ints([1, 4]) }), node("Concat", ["b", "a"], ["y"], { axis: int(0) })], opset: 11, tol: 0 },
  { name: "Split opset 18 num_outputs uneven", shape: [7, 2], nodes: [node("Split", ["x"], ["a", "b", "c"], { num_outputs: int(3) }), node("Concat", ["c", "b", "a"], ["y"], { axis: int(0) })], opset: 18, tol: 0 },
  // shape arithmetic with masks (as transformer exports compute dynamic shapes) folds
  {
    name: "Equal Where Not And Cast on shape arithmetic fold",
    shape: X,
    nodes: [
      node("Shape", ["x"], ["s"]), node("Equal", ["t", "m1"], ["e"]), node("Where", ["e", "s", "t"], ["r"]), node("Less", ["r", "k"], ["l"]), node("Not", ["l"], ["nl"]),
      node("Cast", ["nl"], ["nb"], { to: int(9) }), node("And", ["nb", "e"], ["a"]), node("Where", ["a", "r", "t"], ["r2"]), node("Reshape", ["x", "r2"], ["y"]),
    ],
    inits: [i64("t", [2, -1, 4]), i64("m1", [-1], []), i64("k", [3], [])],
    tol: 0,
    steps: ["move:reshape"],
  },
  // a folded mask used as data: a constant step
  {
    name: "Causal mask from Range folds into a constant step",
    shape: [2, 4, 4],
    nodes: [node("Range", ["z", "n", "one"], ["r"]), node("Unsqueeze", ["r", "ax"], ["rr"]), node("GreaterOrEqual", ["rr", "r"], ["m"]), node("Where", ["m", "x", "big"], ["y"])],
    inits: [i64("z", [0], []), i64("n", [4], []), i64("one", [1], []), i64("ax", [1]), { name: "big", dtype: "float32", shape: [], values: [-1e9] }],
    tol: 0,
    steps: ["move:constant", "map:where"],
  },
  { name: "ConstantOfShape bool mask as data", shape: [2, 3], nodes: [node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "bool", shape: [1], values: [1] } } }), node("Not", ["c"], ["nc"]), node("Where", ["nc", "x", "z"], ["y"])], inits: [i64("s", [3]), { name: "z", dtype: "float32", shape: [], values: [0.25] }], tol: 0, steps: ["move:constant", "map:where"] },
  // ConstantOfShape float: a fill map
  { name: "ConstantOfShape float fill", shape: X, nodes: [node("Shape", ["x"], ["s"]), node("ConstantOfShape", ["s"], ["c"], { value: { t: { name: "v", dtype: "float32", shape: [1], values: [1.5] } } }), node("Mul", ["x", "c"], ["y"])], tol: 0, steps: ["map:fill", "map:mul"] },
  { name: "ConstantOfShape default zero", shape: X, nodes: [node("ConstantOfShape", ["s"], ["c"]), node("Add", ["x", "c"], ["y"])], inits: [i64("s", [3, 1])], tol: 0 },
  // Einsum: the MatMul forms
  { name: "Einsum bij,bjk->bik", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,bjk->bik") })], inits: [f("w", [2, 4, 5], 20)], opset: 12, tol: 1e-6, steps: ["reduce:matmul"] },
  { name: "Einsum bhqd,bhkd->bhqk", shape: [1, 2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bhqd,bhkd->bhqk") })], inits: [f("w", [1, 2, 5, 4], 21)], opset: 12, tol: 1e-6, steps: ["move:transpose", "reduce:matmul"] },
  { name: "Einsum ellipsis", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("...ij,...jk->...ik") })], inits: [f("w", [1, 4, 5], 22)], opset: 12, tol: 1e-6 },
  { name: "Einsum ellipsis one side", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("...ij,jk->...ik") })], inits: [f("w", [4, 5], 35)], opset: 12, tol: 1e-6 },
  { name: "Einsum implicit output", shape: [3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("ij,jk") })], inits: [f("w", [4, 5], 23)], opset: 12, tol: 1e-6, steps: ["reduce:matmul"] },
  { name: "Einsum permuted output", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,bkj->bki") })], inits: [f("w", [2, 5, 4], 24)], opset: 12, tol: 1e-6 },
  { name: "Einsum two free letters", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bsd,dhk->bshk") })], inits: [f("w", [4, 2, 3], 25)], opset: 12, tol: 1e-6 },
  { name: "Einsum two contracted letters", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,ijk->bk") })], inits: [f("w", [3, 4, 2], 26)], opset: 12, tol: 2e-6 },
  { name: "Einsum transpose", shape: [2, 3, 4], nodes: [node("Einsum", ["x"], ["y"], { equation: str("bij->bji") })], opset: 12, tol: 0, steps: ["move:transpose"] },
  { name: "Einsum row sums", shape: [2, 3, 4], nodes: [node("Einsum", ["x"], ["y"], { equation: str("bij->jb") })], opset: 12, tol: 1e-6, steps: ["reduce:reduce", "move:transpose"] },
  { name: "Einsum outer product", shape: [3], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("i,j->ij") })], inits: [f("w", [4], 41)], opset: 12, tol: 0, steps: ["map:mul"] },
  { name: "Einsum batched elementwise", shape: [2, 3, 4], nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,bj->jbi") })], inits: [f("w", [2, 4], 42)], opset: 12, tol: 0 },
  // Conv 1-D, pools 1-D, ceil_mode
  { name: "Conv 1-D pads strides dilations bias", shape: [1, 4, 11], nodes: one("Conv", ["w", "b"], { pads: ints([2, 1]), strides: ints([2]), dilations: ints([2]) }), inits: [f("w", [6, 4, 3], 27), f("b", [6], 28)], tol: 2e-6 },
  { name: "Conv 1-D SAME_LOWER group", shape: [2, 4, 9], nodes: one("Conv", ["w"], { auto_pad: str("SAME_LOWER"), group: int(2), kernel_shape: ints([4]) }), inits: [f("w", [6, 2, 4], 29)], tol: 2e-6 },
  { name: "Conv 1-D VALID", shape: [1, 3, 8], nodes: one("Conv", ["w"], { auto_pad: str("VALID"), strides: ints([3]) }), inits: [f("w", [2, 3, 2], 30)], tol: 2e-6 },
  { name: "Conv 3-D pads strides dilations bias", shape: [1, 3, 5, 6, 7], nodes: one("Conv", ["w", "b"], { pads: ints([1, 0, 2, 0, 1, 1]), strides: ints([1, 2, 2]), dilations: ints([2, 1, 1]) }), inits: [f("w", [4, 3, 2, 3, 3], 36), f("b", [4], 37)], tol: 2e-6, steps: ["reduce:conv3d"] },
  { name: "Conv 3-D SAME_UPPER group", shape: [1, 4, 4, 5, 3], nodes: one("Conv", ["w"], { auto_pad: str("SAME_UPPER"), group: int(2), strides: ints([2, 1, 2]) }), inits: [f("w", [6, 2, 3, 2, 2], 38)], tol: 2e-6 },
  { name: "ConvTranspose 1-D stride output_padding bias", shape: [1, 4, 6], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2]), pads: ints([1, 0]), output_padding: ints([1]), dilations: ints([2]) }), inits: [f("w", [4, 3, 3], 39), f("b", [3], 40)], tol: 2e-6, steps: ["move:reshape", "move:reshape", "reduce:convtranspose", "move:reshape"] },
  { name: "ConvTranspose 2-D SAME_UPPER stride", shape: [1, 3, 4, 5], nodes: one("ConvTranspose", ["w", "b"], { auto_pad: str("SAME_UPPER"), strides: ints([2, 3]) }), inits: [f("w", [3, 2, 3, 4], 43), f("b", [2], 44)], tol: 2e-6, steps: ["reduce:convtranspose"] },
  { name: "ConvTranspose 2-D SAME_LOWER dilation group", shape: [1, 4, 3, 4], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([2, 2]), dilations: ints([2, 1]), group: int(2) }), inits: [f("w", [4, 3, 3, 2], 45)], tol: 2e-6 },
  { name: "ConvTranspose 2-D VALID", shape: [1, 2, 3, 3], nodes: one("ConvTranspose", ["w"], { auto_pad: str("VALID"), strides: ints([2, 1]) }), inits: [f("w", [2, 2, 3, 2], 46)], tol: 2e-6 },
  { name: "ConvTranspose 2-D output_shape odd total padding", shape: [1, 2, 4, 4], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 2]), output_shape: ints([8, 9]) }), inits: [f("w", [2, 3, 3, 3], 47), f("b", [3], 48)], tol: 2e-6 },
  { name: "ConvTranspose 2-D output_shape SAME_UPPER output_padding", shape: [1, 2, 3, 4], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_UPPER"), strides: ints([3, 2]), output_padding: ints([1, 1]), output_shape: ints([9, 7]) }), inits: [f("w", [2, 3, 4, 3], 49)], tol: 2e-6 },
  { name: "ConvTranspose 1-D SAME_LOWER", shape: [2, 3, 7], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([3]) }), inits: [f("w", [3, 2, 4], 52)], tol: 2e-6 },
  { name: "ConvTranspose 1-D output_shape", shape: [1, 2, 5], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2]), output_shape: ints([10]) }), inits: [f("w", [2, 4, 3], 53), f("b", [4], 54)], tol: 2e-6 },
  // ConvTranspose 3-D (NCDHW): explicit pads with output_padding, SAME_UPPER, SAME_LOWER, VALID, output_shape (NOTSET and SAME_UPPER), group, kernel_shape
  { name: "ConvTranspose 3-D pads strides dilations output_padding bias", shape: [1, 2, 3, 3, 4], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 1, 2]), pads: ints([1, 0, 1, 0, 1, 1]), dilations: ints([1, 2, 1]), output_padding: ints([1, 0, 1]), kernel_shape: ints([2, 3, 2]) }), inits: [f("w", [2, 3, 2, 3, 2], 55), f("b", [3], 56)], tol: 2e-6, steps: ["reduce:convtranspose3d"] },
  { name: "ConvTranspose 3-D SAME_UPPER group bias", shape: [1, 4, 2, 3, 3], nodes: one("ConvTranspose", ["w", "b"], { auto_pad: str("SAME_UPPER"), strides: ints([2, 2, 1]), group: int(2) }), inits: [f("w", [4, 2, 2, 2, 3], 57), f("b", [4], 58)], tol: 2e-6, steps: ["reduce:convtranspose3d"] },
  { name: "ConvTranspose 3-D SAME_LOWER dilation odd padding", shape: [2, 2, 3, 2, 3], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([1, 2, 1]), dilations: ints([2, 1, 1]) }), inits: [f("w", [2, 2, 3, 2, 2], 59)], tol: 2e-6 },
  { name: "ConvTranspose 3-D SAME_UPPER kernel shorter than the stride", shape: [1, 2, 2, 3, 2], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_UPPER"), strides: ints([3, 2, 3]) }), inits: [f("w", [2, 2, 2, 1, 2], 64)], tol: 2e-6 },
  { name: "ConvTranspose 2-D SAME_LOWER kernel shorter than the stride", shape: [1, 1, 2, 3], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_LOWER"), strides: ints([1, 3]) }), inits: [f("w", [1, 1, 1, 2], 65)], tol: 2e-6 },
  { name: "ConvTranspose 3-D VALID", shape: [1, 2, 2, 3, 2], nodes: one("ConvTranspose", ["w"], { auto_pad: str("VALID"), strides: ints([2, 1, 2]) }), inits: [f("w", [2, 3, 2, 2, 2], 60)], tol: 2e-6 },
  { name: "ConvTranspose 3-D output_shape odd total padding", shape: [1, 2, 2, 3, 3], nodes: one("ConvTranspose", ["w", "b"], { strides: ints([2, 2, 2]), output_shape: ints([4, 6, 7]) }), inits: [f("w", [2, 2, 3, 3, 3], 61), f("b", [2], 62)], tol: 2e-6 },
  { name: "ConvTranspose 3-D output_shape SAME_UPPER output_padding group", shape: [1, 2, 2, 2, 3], nodes: one("ConvTranspose", ["w"], { auto_pad: str("SAME_UPPER"), strides: ints([2, 3, 2]), output_padding: ints([1, 1, 0]), output_shape: ints([4, 6, 5]), group: int(2) }), inits: [f("w", [2, 2, 2, 3, 3], 63)], tol: 2e-6 },
  // Resize linear: every coordinate_transformation_mode, scales and sizes, up and down, 1-D to 3-D
  { name: "Resize linear half_pixel 2x bilinear", shape: [1, 2, 3, 4], nodes: one("Resize", ["", "s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 2, 2])], opset: 13, tol: 2e-7, steps: ["reduce:resize_linear"] },
  { name: "Resize linear half_pixel sizes up and down", shape: [1, 2, 5, 7], nodes: one("Resize", ["", "", "z"], { mode: str("linear") }), inits: [i64("z", [1, 2, 8, 3])], opset: 13, tol: 5e-7 },
  { name: "Resize linear asymmetric 2.5x", shape: [1, 1, 4, 3], nodes: one("Resize", ["", "s"], { mode: str("linear"), coordinate_transformation_mode: str("asymmetric") }), inits: [fs("s", [1, 1, 2.5, 0.5])], opset: 13, tol: 5e-7 },
  { name: "Resize linear align_corners sizes", shape: [1, 2, 4, 5], nodes: one("Resize", ["", "", "z"], { mode: str("linear"), coordinate_transformation_mode: str("align_corners") }), inits: [i64("z", [1, 2, 7, 9])], opset: 13, tol: 5e-7 },
  { name: "Resize linear pytorch_half_pixel to one row", shape: [1, 1, 4, 6], nodes: one("Resize", ["", "", "z"], { mode: str("linear"), coordinate_transformation_mode: str("pytorch_half_pixel") }), inits: [i64("z", [1, 1, 1, 9])], opset: 13, tol: 5e-7 },
  { name: "Resize linear 1-D last axis", shape: [2, 3, 5], nodes: one("Resize", ["", "s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 3])], opset: 13, tol: 5e-7 },
  { name: "Resize linear 3-D trilinear", shape: [1, 1, 2, 3, 4], nodes: one("Resize", ["", "s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 2, 2, 2])], opset: 13, tol: 5e-7 },
  { name: "Resize linear opset 10 asymmetric", shape: [1, 1, 3, 3], nodes: one("Resize", ["s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 2, 2])], opset: 10, tol: 2e-7 },
  // Resize nearest in the other coordinate modes and roundings: a constant-index gather per resized axis
  { name: "Resize nearest half_pixel round_prefer_floor", shape: [1, 2, 3, 4], nodes: one("Resize", ["", "s"], { mode: str("nearest") }), inits: [fs("s", [1, 1, 2, 1.5])], opset: 13, tol: 0, steps: ["move:gather", "move:gather"] },
  { name: "Resize nearest half_pixel round_prefer_ceil sizes down", shape: [1, 1, 7, 5], nodes: one("Resize", ["", "", "z"], { mode: str("nearest"), nearest_mode: str("round_prefer_ceil") }), inits: [i64("z", [1, 1, 3, 4])], opset: 13, tol: 0 },
  { name: "Resize nearest align_corners ceil", shape: [1, 1, 3, 4], nodes: one("Resize", ["", "", "z"], { mode: str("nearest"), coordinate_transformation_mode: str("align_corners"), nearest_mode: str("ceil") }), inits: [i64("z", [1, 1, 8, 7])], opset: 13, tol: 0 },
  { name: "Resize nearest pytorch_half_pixel floor", shape: [2, 3, 5], nodes: one("Resize", ["", "s"], { mode: str("nearest"), coordinate_transformation_mode: str("pytorch_half_pixel"), nearest_mode: str("floor") }), inits: [fs("s", [1, 1, 2.5])], opset: 13, tol: 0 },
  { name: "Resize nearest tf_half_pixel_for_nn", shape: [1, 1, 4, 4], nodes: one("Resize", ["", "s"], { mode: str("nearest"), coordinate_transformation_mode: str("tf_half_pixel_for_nn") }), inits: [fs("s", [1, 1, 0.5, 3])], opset: 13, tol: 0 },
  { name: "Resize nearest asymmetric round_prefer_floor int32", shape: [1, 1, 3, 3], dtype: "int32", nodes: one("Resize", ["", "s"], { mode: str("nearest"), coordinate_transformation_mode: str("asymmetric") }), inits: [fs("s", [1, 1, 2, 2])], opset: 13, tol: 0, range: [-100, 100] },
  // Upsample (opset 7–9): asymmetric coordinates
  { name: "Upsample opset 9 nearest", shape: [1, 2, 3, 4], nodes: one("Upsample", ["s"], { mode: str("nearest") }), inits: [fs("s", [1, 1, 2, 3])], opset: 9, tol: 0, steps: ["move:resize_nearest"] },
  { name: "Upsample opset 9 linear", shape: [1, 2, 3, 4], nodes: one("Upsample", ["s"], { mode: str("linear") }), inits: [fs("s", [1, 1, 2, 2])], opset: 9, tol: 2e-7, steps: ["reduce:resize_linear"] },
  { name: "Upsample opset 7 nearest attribute", shape: [1, 1, 2, 3], nodes: one("Upsample", [], { mode: str("nearest"), scales: { floats: [1, 1, 2, 2] } }), opset: 7, tol: 0 },
  // DepthToSpace, SpaceToDepth: reshape, transpose, reshape
  { name: "DepthToSpace DCR", shape: [2, 8, 2, 3], nodes: one("DepthToSpace", [], { blocksize: int(2) }), tol: 0, steps: ["move:reshape", "move:transpose", "move:reshape"] },
  { name: "DepthToSpace CRD", shape: [1, 18, 2, 2], nodes: one("DepthToSpace", [], { blocksize: int(3), mode: str("CRD") }), tol: 0 },
  { name: "SpaceToDepth", shape: [2, 3, 4, 6], nodes: one("SpaceToDepth", [], { blocksize: int(2) }), tol: 0 },
  { name: "Cast to and from bool", shape: X, nodes: [node("Cast", ["x"], ["b"], { to: int(9) }), node("Cast", ["b"], ["y"], { to: int(1) })], range: [-1.5, 1.5], integral: true, tol: 0, steps: ["map:not", "map:not", "map:cast"] },
  { name: "MaxPool 3-D pads strides ceil_mode", shape: [1, 2, 5, 6, 7], nodes: one("MaxPool", [], { kernel_shape: ints([2, 3, 2]), strides: ints([2, 2, 3]), pads: ints([1, 0, 1, 0, 1, 0]), ceil_mode: int(1) }), tol: 0, steps: ["reduce:pool3d"] },
  { name: "AveragePool 3-D include pad", shape: [1, 2, 4, 5, 6], nodes: one("AveragePool", [], { kernel_shape: ints([3, 2, 3]), pads: ints([1, 1, 1, 1, 0, 1]), strides: ints([1, 2, 2]), count_include_pad: int(1) }), tol: 1e-6 },
  { name: "AveragePool 3-D SAME_LOWER exclude pad", shape: [2, 1, 4, 5, 6], nodes: one("AveragePool", [], { kernel_shape: ints([2, 3, 3]), strides: ints([2, 1, 2]), auto_pad: str("SAME_LOWER") }), tol: 1e-6 },
  { name: "MaxPool 1-D", shape: [2, 3, 10], nodes: one("MaxPool", [], { kernel_shape: ints([3]), strides: ints([2]), pads: ints([1, 1]) }), tol: 0 },
  { name: "AveragePool 1-D SAME_UPPER", shape: [2, 3, 10], nodes: one("AveragePool", [], { kernel_shape: ints([4]), strides: ints([3]), auto_pad: str("SAME_UPPER") }), tol: 1e-6 },
  { name: "MaxPool ceil_mode", shape: [1, 2, 7, 8], nodes: one("MaxPool", [], { kernel_shape: ints([2, 3]), strides: ints([2, 2]), ceil_mode: int(1) }), tol: 0 },
  { name: "MaxPool ceil_mode pads", shape: [1, 2, 7, 7], nodes: one("MaxPool", [], { kernel_shape: ints([3, 3]), strides: ints([3, 3]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1) }), tol: 0 },
  { name: "AveragePool ceil_mode exclude pad", shape: [1, 2, 7, 8], nodes: one("AveragePool", [], { kernel_shape: ints([2, 3]), strides: ints([2, 2]), pads: ints([1, 0, 0, 1]), ceil_mode: int(1) }), tol: 1e-6 },
  // normalization and composed reductions
  { name: "InstanceNormalization", shape: [2, 3, 4, 5], nodes: one("InstanceNormalization", ["s", "b"], { epsilon: { f: 1e-3 } }), inits: [f("s", [3], 31), f("b", [3], 32)], tol: 2e-6, range: [-3, 3] },
  { name: "InstanceNormalization 1-D", shape: [2, 3, 7], nodes: one("InstanceNormalization", ["s", "b"]), inits: [f("s", [3], 33), f("b", [3], 34)], tol: 2e-6 },
  { name: "ReduceMin keepdims 0", shape: X, nodes: one("ReduceMin", [], { axes: ints([0, 2]), keepdims: int(0) }), tol: 0, steps: ["map:neg", "reduce:reduce", "map:neg"] },
  { name: "ReduceMin axes input", shape: X, nodes: one("ReduceMin", ["a"]), inits: [i64("a", [-1])], opset: 18, tol: 0 },
  { name: "ReduceL1", shape: X, nodes: one("ReduceL1", [], { axes: ints([1]) }), tol: 1e-6 },
  { name: "ReduceL2", shape: X, nodes: one("ReduceL2", [], { axes: ints([2]), keepdims: int(0) }), tol: 1e-6 },
  { name: "ReduceSumSquare all", shape: X, nodes: one("ReduceSumSquare", []), tol: 2e-6 },
  { name: "ReduceLogSum", shape: X, nodes: one("ReduceLogSum", [], { axes: ints([1]) }), range: [0.1, 2], tol: 1e-6 },
  { name: "ReduceLogSumExp keepdims 0", shape: X, nodes: one("ReduceLogSumExp", [], { axes: ints([0, 2]), keepdims: int(0) }), range: [-5, 5], tol: 1e-6 },
  { name: "ReduceLogSumExp axes input", shape: X, nodes: one("ReduceLogSumExp", ["a"]), inits: [i64("a", [1])], opset: 18, range: [-5, 5], tol: 1e-6 },
  // quantized
  { name: "QuantizeLinear uint8 saturating", shape: X, nodes: one("QuantizeLinear", ["s", "z"]), inits: [f("s", [], 40, 0.01, 0.02), u8("z", [128], [])], range: [-5, 5], tol: 0, steps: ["map:quantize"] },
  { name: "QuantizeLinear ties to even", shape: X, nodes: one("QuantizeLinear", ["s", "z"]), inits: [{ name: "s", dtype: "float32", shape: [], values: [2] }, i8("z", [-3], [])], integral: true, range: [-300, 300], tol: 0 },
  { name: "QuantizeLinear no zero point", shape: X, nodes: one("QuantizeLinear", ["s"]), inits: [f("s", [], 41, 0.005, 0.01)], tol: 0 },
  { name: "QuantizeLinear per axis int8", shape: X, nodes: one("QuantizeLinear", ["s", "z"], { axis: int(1) }), inits: [f("s", [3], 42, 0.005, 0.02), i8("z", [-5, 0, 9])], range: [-2, 2], opset: 13, tol: 0 },
  { name: "QuantizeLinear per axis last", shape: X, nodes: one("QuantizeLinear", ["s", "z"], { axis: int(-1) }), inits: [f("s", [4], 43, 0.005, 0.02), u8("z", [0, 10, 128, 255])], opset: 13, tol: 0 },
  { name: "DequantizeLinear uint8", shape: X, dtype: "uint8", nodes: one("DequantizeLinear", ["s", "z"]), inits: [f("s", [], 44, 0.001, 0.1), u8("z", [131], [])], tol: 0, steps: ["map:dequantize"] },
  { name: "DequantizeLinear int8 per axis", shape: X, dtype: "int8", nodes: one("DequantizeLinear", ["s", "z"], { axis: int(2) }), inits: [f("s", [4], 45, 0.001, 0.1), i8("z", [-128, 0, 5, 127])], opset: 13, tol: 0 },
  { name: "DequantizeLinear int32 no zero point", shape: X, dtype: "int32", nodes: one("DequantizeLinear", ["s"]), inits: [f("s", [], 46, 0.001, 0.1)], range: [-1e6, 1e6], tol: 0 },
  { name: "DynamicQuantizeLinear then DequantizeLinear", shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [-3, 1.7], tol: 0, steps: ["reduce:reduce", "map:relu", "map:neg", "reduce:reduce", "map:relu", "map:dql_scale", "map:quantize", "map:quantize", "map:dequantize"] },
  { name: "DynamicQuantizeLinear positive input", shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [0.5, 4], tol: 0 },
  { name: "DynamicQuantizeLinear zero input", shape: X, nodes: [node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])], range: [0, 0], tol: 0 },
  { name: "MatMulInteger zero points", shape: [3, 5], dtype: "uint8", nodes: one("MatMulInteger", ["w", "za", "zw"]), inits: [i8("w", ints8(20, 47), [5, 4]), u8("za", [131], []), i8("zw", [-2], [])], tol: 0, steps: ["map:sub", "map:sub", "reduce:matmul"] },
  { name: "MatMulInteger per-column zero point", shape: [2, 3, 5], dtype: "uint8", nodes: one("MatMulInteger", ["w", "za", "zw"]), inits: [u8("w", ints8(20, 48).map((v) => v + 128), [5, 4]), u8("za", [7], []), u8("zw", [0, 100, 200, 255])], tol: 0 },
  { name: "ConvInteger zero points", shape: [1, 2, 5, 6], dtype: "uint8", nodes: one("ConvInteger", ["w", "zx", "zw"], { pads: ints([1, 0, 1, 2]), strides: ints([1, 2]) }), inits: [u8("w", ints8(36, 49).map((v) => v + 128), [2, 2, 3, 3]), u8("zx", [120], []), u8("zw", [128], [])], tol: 0, steps: ["map:sub", "map:sub", "reduce:conv"] },
  { name: "ConvInteger no zero points", shape: [1, 2, 5, 6], dtype: "uint8", nodes: one("ConvInteger", ["w"]), inits: [u8("w", ints8(36, 50).map((v) => v + 128), [2, 2, 3, 3])], tol: 0, steps: ["reduce:conv"] },
  { name: "ConvInteger 1-D", shape: [1, 2, 9], dtype: "uint8", nodes: one("ConvInteger", ["w", "zx"], { pads: ints([1, 2]), strides: ints([2]) }), inits: [u8("w", ints8(12, 67).map((v) => v + 128), [2, 2, 3]), u8("zx", [100], [])], tol: 0, steps: ["move:reshape", "move:reshape", "map:sub", "reduce:conv", "move:reshape"] },
  { name: "QLinearConv 1-D", shape: [1, 3, 8], dtype: "uint8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], { auto_pad: str("SAME_UPPER") })], inits: [f("sx", [], 68, 0.01, 0.02), u8("zx", [128], []), i8("w", ints8(4 * 9, 69), [4, 3, 3]), f("sw", [4], 70, 0.002, 0.01), i8("zw", [0, 0, 0, 0]), f("sy", [], 71, 0.02, 0.05), u8("zy", [120], []), i32("b", [100, -2000, 0, 5000])], tol: 0 },
  { name: "QLinearMatMul per tensor", shape: [3, 6], dtype: "uint8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [f("sa", [], 51, 0.01, 0.02), u8("za", [128], []), i8("w", ints8(24, 52), [6, 4]), f("sw", [], 53, 0.01, 0.02), i8("zw", [0], []), f("sy", [], 54, 0.05, 0.1), u8("zy", [100], [])], tol: 0, steps: ["map:sub", "map:sub", "reduce:matmul", "map:qscale", "map:requantize"] },
  { name: "QLinearMatMul per column", shape: [3, 6], dtype: "int8", nodes: [node("QLinearMatMul", ["x", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["y"])], inits: [f("sa", [], 55, 0.01, 0.02), i8("za", [3], []), i8("w", ints8(24, 56), [6, 4]), f("sw", [4], 57, 0.01, 0.03), i8("zw", [0, 0, 0, 0]), f("sy", [], 58, 0.02, 0.05), i8("zy", [-10], [])], tol: 0 },
  { name: "QLinearConv per channel bias", shape: [1, 3, 6, 6], dtype: "uint8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["y"], { pads: ints([1, 1, 1, 1]) })], inits: [f("sx", [], 59, 0.01, 0.02), u8("zx", [128], []), i8("w", ints8(4 * 27, 60), [4, 3, 3, 3]), f("sw", [4], 61, 0.002, 0.01), i8("zw", [0, 0, 0, 0]), f("sy", [], 62, 0.02, 0.05), u8("zy", [120], []), i32("b", [100, -2000, 0, 5000])], tol: 0 },
  { name: "QLinearConv per tensor", shape: [1, 2, 5, 5], dtype: "int8", nodes: [node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"], { strides: ints([2, 2]) })], inits: [f("sx", [], 63, 0.01, 0.02), i8("zx", [-4], []), i8("w", ints8(3 * 18, 64), [3, 2, 3, 3]), f("sw", [], 65, 0.002, 0.01), i8("zw", [0], []), f("sy", [], 66, 0.01, 0.03), i8("zy", [5], [])], tol: 0 },
];

function u8(name: string, v: number[], shape = [v.length]): InitSpec {
  return { name, dtype: "uint8", shape, values: v };
}
function i8(name: string, v: number[], shape = [v.length]): InitSpec {
  return { name, dtype: "int8", shape, values: v };
}
/** Deterministic int8 values. */
function ints8(n: number, seed: number): number[] {
  return values(n, seed, -128, 128).map(Math.floor);
}

function one(op: string, inputs: string[], attrs?: Record<string, Attr>): NodeSpec[] {
  return [{ op, inputs: ["x", ...inputs], outputs: ["y"], attrs }];
}

function inputFor(c: Case): Tensor {
  const [lo, hi] = c.range ?? [-1, 1];
  const n = c.shape.reduce((a, b) => a * b, 1);
  const v = values(n, 99, lo, hi);
  if (c.dtype === "int32") return { dtype: "int32", shape: c.shape, data: Int32Array.from(v, Math.round) };
  if (c.dtype === "int8") return { dtype: "int8", shape: c.shape, data: Int8Array.from(values(n, 99, -128, 128), Math.floor) };
  if (c.dtype === "uint8") return { dtype: "uint8", shape: c.shape, data: Uint8Array.from(values(n, 99, 0, 256), Math.floor) };
  return { dtype: "float32", shape: c.shape, data: Float32Array.from(v, c.integral ? Math.round : (x) => x) };
}

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

/** Every element of every step, evaluated alone (element.ts), equals the runtime's; returns the count. */
export function checkElements(program: Program, input: Tensor, precision: Precision = "fp32"): number {
  const { trace } = runProgram(program, input, { precision });
  let checked = 0;
  for (const step of program.steps) {
    const read = (k: number): ArrayLike<number> => {
      const o = step.operands[k]!;
      return (o.source === "input" ? input.data : o.source === "weight" ? program.weights[o.index]!.tensor.data : trace[o.index]!.data) as ArrayLike<number>;
    };
    const out = trace[step.index]!.data as ArrayLike<number>;
    for (let e = 0; e < out.length; e++) {
      let v: number;
      if (step.kind === "map") v = mapElement(step, read, e, precision);
      else if (step.kind === "move") v = moveElement(step, read, e);
      else {
        const r = reduceTerms(step, read, e, precision);
        const states = foldPartials(r, step.output.dtype !== "float32");
        v = finalizeReduce(step, r, states[states.length - 1]!, precision);
      }
      if (!same(v, out[e]!)) throw new Error(`step ${step.index} (${step.kind} ${step.op}) element ${e}: element.ts ${v}, kernel ${out[e]}`);
      checked++;
    }
  }
  return checked;
}

describe("operator coverage: canonical lowering against onnxruntime, element.ts against the runtime", () => {
  for (const c of CASES) {
    it(`test_${c.name.replace(/\W+/g, "_")}_matchesOnnxruntimeAndElements_succeeds`, async () => {
      const bytes = buildModel({ input: { name: "x", shape: c.shape, dtype: c.dtype }, output: "y", nodes: c.nodes, initializers: c.inits, opset: c.opset });
      const x = inputFor(c);
      const program = lowerModel(bytes);
      if (c.steps) expect(program.steps.map((s) => `${s.kind}:${s.op}`)).toEqual(c.steps);
      const canonical = runProgram(program, x).output;
      const ort = await ortRun(bytes, "x", x, "disabled");
      expect(canonical.shape).toEqual(ort.shape);
      const d = maxDiff(ort, canonical, 1e-6);
      console.log(`${c.name}: ${program.steps.map((s) => `${s.kind}:${s.op}`).join(" ")}; max |canonical − onnxruntime| ${d.abs}`);
      if (c.tol === 0) expect(Array.from(canonical.data as ArrayLike<number>)).toEqual(Array.from(ort.data as ArrayLike<number>));
      else expect(d.abs).toBeLessThanOrEqual(c.tol);
      for (const p of ["fp32", "bf16"] as const) expect(checkElements(program, x, p)).toBeGreaterThan(0);
    });
  }

  it("test_everyFloatCase_specialInputs_elementTsEqualsRuntime_succeeds", () => {
    // Signed zeros, NaN, infinities, subnormals, huge and tie values through every new step kind.
    const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-45, 3e38, -3e38, 0.5, -0.5, 2.5, 1, -1, 255.5, -128.5];
    let checked = 0;
    for (const c of CASES) {
      if (c.dtype !== undefined) continue;
      const program = lowerModel(buildModel({ input: { name: "x", shape: c.shape }, output: "y", nodes: c.nodes, initializers: c.inits, opset: c.opset }));
      const n = c.shape.reduce((a, b) => a * b, 1);
      const v = values(n, 7, 0, SPECIAL.length);
      const x: Tensor = { dtype: "float32", shape: c.shape, data: Float32Array.from(v, (r, i) => (i % 3 === 0 ? r / 8 - 1 : SPECIAL[Math.floor(r)]!)) };
      for (const p of ["fp32", "fp16", "tf32"] as const) checked += checkElements(program, x, p);
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  const refused: [string, () => Uint8Array, RegExp][] = [
    ["Gather data-dependent indices", () => buildModel({ input: { name: "x", dtype: "int32", shape: [3] }, output: "y", nodes: [node("Gather", ["t", "x"], ["y"])], initializers: [f("t", [5, 2], 1)] }), /#0 Gather -> y.*indices must be constant/],
    ["Gather above the constant-index cap", () => buildModel({ input: { name: "x", shape: [3, 2] }, output: "y", nodes: one("Gather", ["i"]), initializers: [i64("i", Array.from({ length: 4097 }, (_, k) => k % 3))] }), /4097 constant indices: a gather step carries at most 4096 \(MAX_CONSTANT_INDICES/],
    ["Gather index out of range", () => buildModel({ input: { name: "x", shape: [3, 2] }, output: "y", nodes: one("Gather", ["i"]), initializers: [i64("i", [3])] }), /index 3 is out of range/],
    ["Pad wrap", () => buildModel({ input: { name: "x", shape: [3, 2] }, output: "y", nodes: one("Pad", ["p"], { mode: str("wrap") }), initializers: [i64("p", [1, 1, 1, 1])], opset: 19 }), /Pad \(node #0 Pad -> y\): mode wrap/],
    ["Pad reflect too wide", () => buildModel({ input: { name: "x", shape: [3, 2] }, output: "y", nodes: one("Pad", ["p"], { mode: str("reflect") }), initializers: [i64("p", [0, 2, 0, 0])] }), /reflect pads/],
    ["Range float", () => buildModel({ input: { name: "x", shape: [3] }, output: "y", nodes: [node("Range", ["a", "b", "c"], ["r"]), node("Add", ["x", "r"], ["y"])], initializers: [f("a", [], 1), f("b", [], 2), f("c", [], 3)] }), /Range.*only integer constant inputs fold/],
    ["Einsum three operands", () => buildModel({ input: { name: "x", shape: [2, 2] }, output: "y", nodes: [node("Einsum", ["x", "x", "x"], ["y"], { equation: str("ij,jk,kl->il") })], opset: 12 }), /equation "ij,jk,kl->il": 3 operands \(only 1 or 2/],
    ["Einsum diagonal", () => buildModel({ input: { name: "x", shape: [2, 2] }, output: "y", nodes: [node("Einsum", ["x", "x"], ["y"], { equation: str("ii,ij->ij") })], opset: 12 }), /repeats a letter/],
    ["Einsum one-operand sum", () => buildModel({ input: { name: "x", shape: [2, 3, 4] }, output: "y", nodes: [node("Einsum", ["x", "w"], ["y"], { equation: str("bij,bjk->bk") })], initializers: [f("w", [2, 4, 5], 1)], opset: 12 }), /letter i is summed within one operand only/],
    ["ConvTranspose output_shape wider than the input gives", () => buildModel({ input: { name: "x", shape: [1, 2, 3, 3] }, output: "y", nodes: one("ConvTranspose", ["w"], { strides: ints([2, 2]), output_shape: ints([9, 8]) }), initializers: [f("w", [2, 2, 2, 2], 50)] }), /output_shape \[9,8\] is wider than the input gives \(6 along spatial axis 0\)/],
    ["ConvTranspose output_shape with N and C", () => buildModel({ input: { name: "x", shape: [1, 2, 3, 3] }, output: "y", nodes: one("ConvTranspose", ["w"], { strides: ints([2, 2]), output_shape: ints([1, 2, 6, 6]) }), initializers: [f("w", [2, 2, 2, 2], 50)] }), /output_shape \[1,2,6,6\] must hold the 2 spatial sizes/],
    ["ConvTranspose 4-D", () => buildModel({ input: { name: "x", shape: [1, 1, 2, 2, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"]), initializers: [f("w", [1, 1, 2, 2, 2, 2], 1)] }), /#0 ConvTranspose -> y.*only 1-D, 2-D and 3-D transposed convolutions are supported \(input rank 6/],
    ["ConvTranspose 3-D output_shape of 2 sizes", () => buildModel({ input: { name: "x", shape: [1, 2, 2, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"], { strides: ints([2, 2, 2]), output_shape: ints([4, 4]) }), initializers: [f("w", [2, 2, 2, 2, 2], 50)] }), /output_shape \[4,4\] must hold the 3 spatial sizes/],
    ["ConvTranspose 3-D output_shape wider", () => buildModel({ input: { name: "x", shape: [1, 2, 2, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"], { strides: ints([2, 2, 2]), output_shape: ints([4, 5, 4]) }), initializers: [f("w", [2, 2, 2, 2, 2], 50)] }), /output_shape \[4,5,4\] is wider than the input gives \(4 along spatial axis 1\)/],
    ["ConvTranspose 3-D strides of 2 axes", () => buildModel({ input: { name: "x", shape: [1, 2, 2, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"], { strides: ints([2, 2]) }), initializers: [f("w", [2, 2, 2, 2, 2], 50)] }), /strides \[2,2\] must be 3 values of at least 1/],
    ["ConvTranspose 3-D pads leaving no output", () => buildModel({ input: { name: "x", shape: [1, 2, 1, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"], { pads: ints([1, 0, 0, 1, 0, 0]) }), initializers: [f("w", [2, 2, 1, 2, 2], 50)] }), /pads \[1,0,0,1,0,0\] leave no output/],
    ["ConvTranspose 3-D weight of rank 4", () => buildModel({ input: { name: "x", shape: [1, 2, 2, 2, 2] }, output: "y", nodes: one("ConvTranspose", ["w"]), initializers: [f("w", [2, 2, 2, 2], 50)] }), /input rank 5, weight rank 4/],
    ["Resize linear tf_crop_and_resize", () => buildModel({ input: { name: "x", shape: [1, 1, 3, 3] }, output: "y", nodes: one("Resize", ["r", "s"], { mode: str("linear"), coordinate_transformation_mode: str("tf_crop_and_resize") }), initializers: [fs("r", [0, 0, 0, 0, 1, 1, 1, 1]), fs("s", [1, 1, 2, 2])], opset: 13 }), /coordinate_transformation_mode tf_crop_and_resize is not supported with mode linear/],
    ["Resize cubic", () => buildModel({ input: { name: "x", shape: [1, 1, 3, 3] }, output: "y", nodes: one("Resize", ["", "s"], { mode: str("cubic") }), initializers: [fs("s", [1, 1, 2, 2])], opset: 13 }), /mode cubic is not supported \(nearest, linear\)/],
    ["Resize linear inexact scale", () => buildModel({ input: { name: "x", shape: [1, 1, 3, 3] }, output: "y", nodes: one("Resize", ["", "s"], { mode: str("linear") }), initializers: [fs("s", [1, 1, 4 / 3, 4 / 3])], opset: 13 }), /divisor of .* above 2\^24 \(MAX_RESIZE_DIVISOR/],
    ["Conv 4-D", () => buildModel({ input: { name: "x", shape: [1, 2, 3, 3, 3, 3] }, output: "y", nodes: one("Conv", ["w"]), initializers: [f("w", [1, 2, 2, 2, 2, 2], 1)] }), /#0 Conv -> y.*only 1-D, 2-D and 3-D convolutions/],
    ["AveragePool ceil include pad past end", () => buildModel({ input: { name: "x", shape: [1, 1, 6, 6] }, output: "y", nodes: one("AveragePool", [], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: int(1), count_include_pad: int(1) }) }), /ceil_mode with count_include_pad 1/],
    ["QuantizeLinear blocked", () => buildModel({ input: { name: "x", shape: [2, 4] }, output: "y", nodes: one("QuantizeLinear", ["s"], { block_size: int(2), axis: int(1) }), initializers: [f("s", [2, 2], 1, 0.1, 0.2)], opset: 21 }), /#0 QuantizeLinear -> y.*block_size/],
    ["ReduceProd", () => buildModel({ input: { name: "x", shape: [2, 4] }, output: "y", nodes: one("ReduceProd", []) }), /operator ReduceProd \(node #0 ReduceProd -> y\) has no canonical definition/],
    ["int64 shape arithmetic used as data", () => buildModel({ input: { name: "x", shape: [2] }, output: "y", nodes: [node("Range", ["a", "b", "c"], ["r"]), node("Expand", ["r", "s"], ["y"])], initializers: [i64("a", [0], []), i64("b", [3], []), i64("c", [1], []), i64("s", [2, 3])] }), /operand 0 of Expand \(node #1 Expand -> y\) is shape arithmetic used as data \(int64\[3\]\)/],
    ["Causal mask above the constant-step cap", () => buildModel({ input: { name: "x", shape: [1, 65, 65] }, output: "y", nodes: [node("Range", ["z", "n", "one"], ["r"]), node("Unsqueeze", ["r", "ax"], ["rr"]), node("GreaterOrEqual", ["rr", "r"], ["m"]), node("Where", ["m", "x", "big"], ["y"])], initializers: [i64("z", [0], []), i64("n", [65], []), i64("one", [1], []), i64("ax", [1]), { name: "big", dtype: "float32", shape: [], values: [-1e9] }] }), /constant of 4225 values used as data: a constant step holds at most 4096 \(MAX_CONSTANT_STEP/],
    ["PRelu slope wider than x", () => buildModel({ input: { name: "x", shape: [3] }, output: "y", nodes: one("PRelu", ["s"]), initializers: [f("s", [2, 3], 1)] }), /slope \[2,3\] does not broadcast/],
  ];
  for (const [name, build, message] of refused) {
    it(`test_lowerModel_${name.replace(/\W+/g, "_")}_refusedWithReason`, () => {
      try {
        lowerModel(build());
        expect.unreachable();
      } catch (error) {
        expect(isError(error, "OP_UNSUPPORTED")).toBe(true);
        expect((error as Error).message).toMatch(message);
      }
    });
  }
});
