import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { onnx as OnnxNs } from "onnx-proto";

const require = createRequire(import.meta.url);
const { onnx } = require("onnx-proto") as { onnx: typeof OnnxNs };

/**
 * A quantized integer MLP: int8 activations, int8 weights, int32 accumulators.
 *
 * Each layer computes, for every output n (all integer, no floats anywhere):
 *   acc[n] = sum_k x[k] * W[k][n] + bias[n]                      (int32)
 *   acc[n] = max(acc[n], 0)                                       (if relu)
 *   y[n]   = clamp(floor((acc[n] * multiplier + 2^(shift-1)) / 2^shift), -128, 127)   (int8)
 * i.e. a rounding arithmetic right shift that rounds halves towards +infinity.
 */
export interface QuantizedDense {
  inFeatures: number;
  outFeatures: number;
  /** Row-major [inFeatures][outFeatures], as the ONNX MatMulInteger B operand. */
  weights: Int8Array;
  bias: Int32Array;
  relu: boolean;
  multiplier: number;
  shift: number;
}

export interface QuantizedMlp {
  /** Input tensor shape, e.g. [1, 7, 7]; flattened row-major into layer 0. */
  inputShape: number[];
  layers: QuantizedDense[];
}

export const INPUT_NAME = "pixels";
export const OUTPUT_NAME = "logits";
export const OPSET = 17;
const INT32_MAX = 2 ** 31 - 1;

/** The non-negative offset (in units of 2^shift) that makes the Div numerator non-negative. */
export function divisionOffset(layer: QuantizedDense): number {
  if (layer.relu) return 0;
  let worst = 0;
  for (let n = 0; n < layer.outFeatures; n++) {
    let lo = layer.bias[n] ?? 0;
    for (let k = 0; k < layer.inFeatures; k++) {
      const w = layer.weights[k * layer.outFeatures + n] ?? 0;
      lo += Math.min(w * -128, w * 127);
    }
    worst = Math.max(worst, -lo * layer.multiplier);
  }
  return Math.ceil(worst / 2 ** layer.shift);
}

function checkLayer(layer: QuantizedDense, index: number): void {
  const { inFeatures: k, outFeatures: n } = layer;
  if (layer.weights.length !== k * n || layer.bias.length !== n) throw new Error(`layer ${index}: shape mismatch`);
  if (!Number.isInteger(layer.multiplier) || layer.multiplier <= 0) throw new Error(`layer ${index}: bad multiplier`);
  if (!Number.isInteger(layer.shift) || layer.shift < 1 || layer.shift > 30) throw new Error(`layer ${index}: bad shift`);
  // int32 headroom: ORT wraps on overflow, the circuit does not, so refuse any model that could.
  let worst = 0;
  for (let j = 0; j < n; j++) {
    let mag = Math.abs(layer.bias[j] ?? 0);
    for (let i = 0; i < k; i++) mag += Math.abs(layer.weights[i * n + j] ?? 0) * 128;
    worst = Math.max(worst, mag);
  }
  const offset = divisionOffset(layer) * 2 ** layer.shift + 2 ** (layer.shift - 1);
  if (worst > INT32_MAX || worst * layer.multiplier + offset > INT32_MAX) {
    throw new Error(`layer ${index}: int32 overflow possible (|acc| <= ${worst}, multiplier ${layer.multiplier})`);
  }
}

function int8Initializer(name: string, dims: number[], data: Int8Array): OnnxNs.ITensorProto {
  return { name, dataType: onnx.TensorProto.DataType.INT8, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
function int32Initializer(name: string, dims: number[], data: readonly number[]): OnnxNs.ITensorProto {
  const buf = Buffer.alloc(4 * data.length);
  data.forEach((v, i) => buf.writeInt32LE(v, 4 * i));
  return { name, dataType: onnx.TensorProto.DataType.INT32, dims, rawData: buf };
}
function int64Initializer(name: string, dims: number[], data: readonly number[]): OnnxNs.ITensorProto {
  const buf = Buffer.alloc(8 * data.length);
  data.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), 8 * i));
  return { name, dataType: onnx.TensorProto.DataType.INT64, dims, rawData: buf };
}
function valueInfo(name: string, elemType: number, shape: number[]): OnnxNs.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
}

/** Serializes the model as ONNX (opset 17) in the integer operator set; same bytes every time. */
export function toOnnx(model: QuantizedMlp): Uint8Array {
  const T = onnx.TensorProto.DataType;
  const nodes: OnnxNs.INodeProto[] = [];
  const inits: OnnxNs.ITensorProto[] = [];
  model.layers.forEach(checkLayer);
  const first = model.layers[0];
  if (!first) throw new Error("model has no layers");
  inits.push(int64Initializer("input.shape", [2], [1, first.inFeatures]));
  nodes.push({ name: "flatten", opType: "Reshape", input: [INPUT_NAME, "input.shape"], output: ["x0"] });
  let x = "x0";
  model.layers.forEach((layer, l) => {
    const p = `l${l}`;
    const last = l === model.layers.length - 1;
    const offset = divisionOffset(layer);
    inits.push(int8Initializer(`${p}.weight`, [layer.inFeatures, layer.outFeatures], layer.weights));
    inits.push(int32Initializer(`${p}.bias`, [layer.outFeatures], Array.from(layer.bias)));
    inits.push(int32Initializer(`${p}.multiplier`, [], [layer.multiplier]));
    inits.push(int32Initializer(`${p}.rounding`, [], [2 ** (layer.shift - 1) + offset * 2 ** layer.shift]));
    inits.push(int32Initializer(`${p}.divisor`, [], [2 ** layer.shift]));
    if (offset > 0) inits.push(int32Initializer(`${p}.offset`, [], [offset]));
    inits.push(int32Initializer(`${p}.min`, [], [-128]));
    inits.push(int32Initializer(`${p}.max`, [], [127]));
    const add = (opType: string, inputs: string[], out: string, attribute?: OnnxNs.IAttributeProto[]) => {
      nodes.push({ name: `${p}.${out}`, opType, input: inputs, output: [`${p}.${out}`], attribute });
      return `${p}.${out}`;
    };
    let t = add("MatMulInteger", [x, `${p}.weight`], "acc");
    t = add("Add", [t, `${p}.bias`], "biased");
    if (layer.relu) t = add("Relu", [t], "relu");
    t = add("Mul", [t, `${p}.multiplier`], "scaled");
    t = add("Add", [t, `${p}.rounding`], "rounded");
    t = add("Div", [t, `${p}.divisor`], "shifted");
    if (offset > 0) t = add("Sub", [t, `${p}.offset`], "unbiased");
    t = add("Clip", [t, `${p}.min`, `${p}.max`], "clipped");
    const castAttr = [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: T.INT8 }];
    if (last) {
      nodes.push({ name: `${p}.cast`, opType: "Cast", input: [t], output: [OUTPUT_NAME], attribute: castAttr });
      x = OUTPUT_NAME;
    } else {
      x = add("Cast", [t], "out", castAttr);
    }
  });
  const lastLayer = model.layers[model.layers.length - 1] as QuantizedDense;
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: "verifiable-inference-oracle/zk-train",
    producerVersion: "1",
    graph: {
      name: "mnist7x7_mlp_int8",
      node: nodes,
      initializer: inits,
      input: [valueInfo(INPUT_NAME, T.INT8, model.inputShape)],
      output: [valueInfo(OUTPUT_NAME, T.INT8, [1, lastLayer.outFeatures])],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

export function sha256Hex(bytes: Uint8Array): `0x${string}` {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}
