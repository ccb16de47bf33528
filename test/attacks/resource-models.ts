/**
 * Hostile ONNX files for the worker's resource limits (issue 13, finding 8), built in the tests: each
 * a few hundred bytes.
 */
import onnxProto from "onnx-proto";

const onnx = onnxProto.onnx;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const BOOL = onnx.TensorProto.DataType.BOOL;
const T = onnx.AttributeProto.AttributeType;
const OPSETS = [{ domain: "", version: 17 }];

type Dim = number | string;

function valueInfo(name: string, dims: Dim[], elemType: number = FLOAT): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } };
}

function int64s(name: string, values: number[], dims: number[] = [values.length]): onnxProto.onnx.ITensorProto {
  return { name, dataType: INT64, dims, int64Data: values };
}

function encode(graph: onnxProto.onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: OPSETS, producerName: "attack", graph })).finish();
}

/**
 * A memory bomb whose size comes from the input, so no static check can see it: y = ConstantOfShape(Cast(x))
 * filled with ones. x = [n] (float32) makes onnxruntime allocate and write n float32s.
 */
export function inputSizedMemoryBomb(): Uint8Array {
  return encode({
    name: "bomb",
    input: [valueInfo("x", [1])],
    output: [valueInfo("y", ["n"])],
    node: [
      { opType: "Cast", input: ["x"], output: ["shape"], attribute: [{ name: "to", type: T.INT, i: INT64 }] },
      { opType: "ConstantOfShape", input: ["shape"], output: ["y"], attribute: [{ name: "value", type: T.TENSOR, t: { dataType: FLOAT, dims: [1], floatData: [1] } }] },
    ],
  });
}

/** A model that runs (practically) forever: a Loop of 10^12 trips adding x to a [1] accumulator. */
export function endlessLoop(): Uint8Array {
  const body: onnxProto.onnx.IGraphProto = {
    name: "body",
    input: [valueInfo("i", [], INT64), valueInfo("c_in", [], BOOL), valueInfo("v_in", [1])],
    output: [valueInfo("c_out", [], BOOL), valueInfo("v_out", [1])],
    node: [
      { opType: "Identity", input: ["c_in"], output: ["c_out"] },
      { opType: "Add", input: ["v_in", "x"], output: ["v_out"] },
    ],
  };
  return encode({
    name: "endless",
    input: [valueInfo("x", [1])],
    output: [valueInfo("y", [1])],
    initializer: [int64s("trips", [1e12], []), { name: "cond", dataType: BOOL, dims: [], int32Data: [1] }],
    node: [{ opType: "Loop", input: ["trips", "cond", "x"], output: ["y"], attribute: [{ name: "body", type: T.GRAPH, g: body }] }],
  });
}

/**
 * Static shape bombs: each builds a tensor of `elements` (or more) from constants, where a loader's
 * constant folding alone allocates it. `kind` picks the operator.
 */
export function staticShapeBomb(kind: "ConstantOfShape" | "Expand" | "Tile" | "broadcast" | "folded" | "declared" | "Conv" | "ConvTranspose" | "Gather" | "Slice", side = 100_000): Uint8Array {
  const x = valueInfo("x", [1]);
  const y = valueInfo("y", [1]);
  const sum = (from: string): onnxProto.onnx.INodeProto[] => [
    { opType: "ReduceSum", input: [from], output: ["s"], attribute: [{ name: "keepdims", type: T.INT, i: 0 }] },
    { opType: "Add", input: ["x", "s"], output: ["y"] },
  ];
  switch (kind) {
    case "ConstantOfShape":
      return encode({ name: "cos", input: [x], output: [y], initializer: [int64s("shape", [side, side])], node: [{ opType: "ConstantOfShape", input: ["shape"], output: ["big"], attribute: [{ name: "value", type: T.TENSOR, t: { dataType: FLOAT, dims: [1], floatData: [1] } }] }, ...sum("big")] });
    case "Expand":
      return encode({ name: "expand", input: [x], output: [y], initializer: [int64s("shape", [side, side])], node: [{ opType: "Expand", input: ["x", "shape"], output: ["big"] }, ...sum("big")] });
    case "Tile":
      return encode({ name: "tile", input: [x], output: [y], initializer: [int64s("reps", [side * side])], node: [{ opType: "Tile", input: ["x", "reps"], output: ["big"] }, ...sum("big")] });
    case "broadcast":
      // [side,1] + [1,side] = [side,side]: plain broadcasting, from two shapes that are small on their own.
      return encode({
        name: "bcast",
        input: [x],
        output: [y],
        initializer: [int64s("a", [side, 1]), int64s("b", [1, side])],
        node: [
          { opType: "Expand", input: ["x", "a"], output: ["col"] },
          { opType: "Expand", input: ["x", "b"], output: ["row"] },
          { opType: "Add", input: ["col", "row"], output: ["big"] },
          ...sum("big"),
        ],
      });
    case "folded":
      // The shape is computed from constants: Concat(Mul(a, b), Shape(ConstantOfShape(c))) with c = [side].
      return encode({
        name: "folded",
        input: [x],
        output: [y],
        initializer: [int64s("a", [side / 100]), int64s("b", [100]), int64s("c", [side])],
        node: [
          { opType: "Mul", input: ["a", "b"], output: ["d0"] },
          { opType: "ConstantOfShape", input: ["c"], output: ["row"] },
          { opType: "Shape", input: ["row"], output: ["d1"] },
          { opType: "Concat", input: ["d0", "d1"], output: ["shape"], attribute: [{ name: "axis", type: T.INT, i: 0 }] },
          { opType: "ConstantOfShape", input: ["shape"], output: ["big"], attribute: [{ name: "value", type: T.TENSOR, t: { dataType: FLOAT, dims: [1], floatData: [1] } }] },
          ...sum("big"),
        ],
      });
    case "Conv":
      // The input as [1,1,1,1], a 1x1 convolution padded by side-1 after each spatial axis: [1,1,side,side].
      return encode({
        name: "conv",
        input: [x],
        output: [y],
        initializer: [int64s("four", [1, 1, 1, 1]), { name: "w", dataType: FLOAT, dims: [1, 1, 1, 1], floatData: [1] }],
        node: [
          { opType: "Reshape", input: ["x", "four"], output: ["x4"] },
          { opType: "Conv", input: ["x4", "w"], output: ["big"], attribute: [{ name: "pads", type: T.INTS, ints: [0, 0, side - 1, side - 1] }] },
          ...sum("big"),
        ],
      });
    case "ConvTranspose":
      // The input expanded to [1,1,2,2], a 1x1 transposed convolution with stride side-1: [1,1,side,side].
      return encode({
        name: "convt",
        input: [x],
        output: [y],
        initializer: [int64s("two", [1, 1, 2, 2]), { name: "w", dataType: FLOAT, dims: [1, 1, 1, 1], floatData: [1] }],
        node: [
          { opType: "Expand", input: ["x", "two"], output: ["x4"] },
          { opType: "ConvTranspose", input: ["x4", "w"], output: ["big"], attribute: [{ name: "strides", type: T.INTS, ints: [side - 1, side - 1] }] },
          ...sum("big"),
        ],
      });
    case "Gather":
      // A row of `side` copies of the input, gathered with `side` zero indices: [side, side].
      return encode({
        name: "gather",
        input: [x],
        output: [y],
        initializer: [int64s("row", [1, side]), int64s("n", [side])],
        node: [
          { opType: "Expand", input: ["x", "row"], output: ["data"] },
          { opType: "ConstantOfShape", input: ["n"], output: ["idx"], attribute: [{ name: "value", type: T.TENSOR, t: { dataType: INT64, dims: [1], int64Data: [0] } }] },
          { opType: "Gather", input: ["data", "idx"], output: ["big"], attribute: [{ name: "axis", type: T.INT, i: 0 }] },
          ...sum("big"),
        ],
      });
    case "Slice":
      // The shape is sliced out of a longer constant: Slice([7, side, side, 9], 1, 3) = [side, side].
      return encode({
        name: "slice",
        input: [x],
        output: [y],
        initializer: [int64s("c", [7, side, side, 9]), int64s("b", [1]), int64s("e", [3])],
        node: [
          { opType: "Slice", input: ["c", "b", "e"], output: ["shape"] },
          { opType: "ConstantOfShape", input: ["shape"], output: ["big"], attribute: [{ name: "value", type: T.TENSOR, t: { dataType: FLOAT, dims: [1], floatData: [1] } }] },
          ...sum("big"),
        ],
      });
    case "declared":
      return encode({ name: "declared", input: [valueInfo("x", [side, side])], output: [valueInfo("y", [side, side])], node: [{ opType: "Relu", input: ["x"], output: ["y"] }] });
  }
}

/** A benign model with control flow: y = If(c, x + x, x) with c = true. Traces cannot cover `If`. */
export function ifModel(): Uint8Array {
  const branch = (name: string, node: onnxProto.onnx.INodeProto): onnxProto.onnx.IGraphProto => ({ name, output: [valueInfo(`${name}_y`, [1])], node: [node] });
  return encode({
    name: "if",
    input: [valueInfo("x", [1])],
    output: [valueInfo("y", [1])],
    initializer: [{ name: "c", dataType: BOOL, dims: [], int32Data: [1] }],
    node: [
      {
        opType: "If",
        input: ["c"],
        output: ["y"],
        attribute: [
          { name: "then_branch", type: T.GRAPH, g: branch("then", { opType: "Add", input: ["x", "x"], output: ["then_y"] }) },
          { name: "else_branch", type: T.GRAPH, g: branch("else", { opType: "Identity", input: ["x"], output: ["else_y"] }) },
        ],
      },
    ],
  });
}
