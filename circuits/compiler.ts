import { createRequire } from "node:module";
import type { onnx as OnnxNs } from "onnx-proto";
import { type CompileResult, type CompiledLayerInfo, type ConstTensor, DTYPE_RANGE, type IntDType, type SignalTensor, type Value, ZkCompileError, circomArray, comparatorBits, dtypeOf, identifier, max, maxOf, min, minOf, numel, readInitializer, signedBits, staticShape, unsignedBits } from "./compile-values.js";
import { sha256Hex } from "./model.js";
import { BYTES_PER_WORD } from "./words.js";
export { ZkCompileError } from "./compile-values.js";
export type { CompileResult, CompiledLayerInfo } from "./compile-values.js";
export { packInt8Words, unpackInt8Words } from "./words.js";

const require = createRequire(import.meta.url);
const { onnx } = require("onnx-proto") as { onnx: typeof OnnxNs };

/**
 * ONNX (integer operator set) -> circom compiler.
 *
 * The graph is walked once in node order. Every tensor carries, per element, the exact integer
 * interval its value can take for any int8 input (interval analysis over the constant weights).
 * The intervals are used to
 *   - refuse graphs whose ONNX dtype could overflow (ORT wraps int32, a circuit would not),
 *   - size every range check (Relu sign bits, Div quotient bits, Clip comparison bits),
 *   - drop range logic that can never bind (a Relu on a non-negative tensor, a Clip side that
 *     cannot be reached), which is sound because every template's constraints determine its
 *     outputs uniquely from in-range inputs, so every satisfying witness is the honest one.
 * Linear nodes (MatMulInteger with constant weights, Add/Sub/Mul by constants) emit linear
 * constraints that circom --O2 folds away; Reshape and range-preserving Cast are free.
 *
 * The output is a pure function of the ONNX bytes: same model, same .circom bytes.
 */
export const COMPILER_VERSION = "1";

export function compileOnnxToCircom(modelBytes: Uint8Array, templateName = "Model"): CompileResult {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (!graph) throw new ZkCompileError("model has no graph");
  const opset = model.opsetImport?.find((o) => !o.domain)?.version;
  if (opset === undefined || opset === null || Number(opset) < 14) throw new ZkCompileError(`needs default-domain opset >= 14, got ${opset}`);
  if ((graph.input ?? []).length - 0 < 1) throw new ZkCompileError("graph has no input");

  const values = new Map<string, Value>();
  for (const init of graph.initializer ?? []) values.set(init.name ?? "", readInitializer(init));
  const inputs = (graph.input ?? []).filter((i) => !values.has(i.name ?? ""));
  if (inputs.length !== 1) throw new ZkCompileError(`expects exactly one graph input, found ${inputs.length}`);
  if ((graph.output ?? []).length !== 1) throw new ZkCompileError("expects exactly one graph output");
  const input = inputs[0] as OnnxNs.IValueInfoProto;
  const output = (graph.output ?? [])[0] as OnnxNs.IValueInfoProto;
  const inputName = input.name ?? "";
  const inputDtype = dtypeOf(input.type?.tensorType?.elemType, inputName);
  if (inputDtype !== "int8") throw new ZkCompileError("the graph input must be int8", inputName);
  const inputShape = staticShape(input);
  const nIn = numel(inputShape);
  const inputWords = Math.ceil(nIn / BYTES_PER_WORD);

  const body: string[] = [];
  const includes = new Set<string>(["int8_unpack.circom", "int8_pack.circom"]);
  const layers: CompiledLayerInfo[] = [];
  const used = new Set<string>();
  const componentName = (node: string) => {
    let base = `c_${identifier(node)}`;
    while (used.has(base)) base += "_";
    used.add(base);
    return base;
  };

  body.push(`    // ${inputName}: int8${JSON.stringify(inputShape)} from ${inputWords} public input word(s)`);
  body.push(`    component c_input = UnpackInt8(${nIn});`);
  body.push(`    c_input.words <== inputWords;`);
  values.set(inputName, {
    kind: "signal", dtype: "int8", shape: inputShape, ref: "c_input.out",
    lo: Array<bigint>(nIn).fill(-128n), hi: Array<bigint>(nIn).fill(127n),
  });

  const signalArg = (name: string | undefined, node: string): SignalTensor => {
    const v = values.get(name ?? "");
    if (!v) throw new ZkCompileError(`unknown tensor ${name}`, node);
    if (v.kind !== "signal") throw new ZkCompileError(`operand ${name} must be computed, not constant`, node);
    return v;
  };
  const constArg = (name: string | undefined, node: string): ConstTensor => {
    const v = values.get(name ?? "");
    if (!v) throw new ZkCompileError(`unknown tensor ${name}`, node);
    if (v.kind !== "const") throw new ZkCompileError(`operand ${name} must be a constant initializer`, node);
    return v;
  };
  /** Broadcast a constant to an [1, ..., 1, N] signal tensor: a scalar, or exactly N values. */
  const broadcast = (c: ConstTensor, x: SignalTensor, node: string): bigint[] => {
    const n = numel(x.shape);
    if (c.values.length === 1) return Array<bigint>(n).fill(c.values[0] as bigint);
    const last = x.shape[x.shape.length - 1];
    if (c.values.length === n && last === n && c.shape[c.shape.length - 1] === n) return c.values.slice();
    throw new ZkCompileError(`constant of shape ${JSON.stringify(c.shape)} does not broadcast to ${JSON.stringify(x.shape)}`, node);
  };
  const checkDtype = (dtype: IntDType, lo: bigint[], hi: bigint[], node: string) => {
    const [dlo, dhi] = DTYPE_RANGE[dtype];
    if (minOf(lo) < dlo || maxOf(hi) > dhi) {
      throw new ZkCompileError(`${dtype} result may overflow (range [${minOf(lo)}, ${maxOf(hi)}]); ORT would wrap, a circuit cannot`, node);
    }
  };
  /**
   * Emits one component. Constant arrays go in `var <component>_<name>` declarations; a param
   * written "$name" refers to them.
   */
  const emit = (nodeName: string, op: string, outName: string, template: string, file: string, params: (string | number)[],
    x: SignalTensor, dtype: IntDType, shape: number[], lo: bigint[], hi: bigint[], consts: { name: string; dims: number[]; values: bigint[] }[] = []) => {
    checkDtype(dtype, lo, hi, nodeName);
    includes.add(file);
    const comp = componentName(nodeName);
    body.push(``, `    // ${nodeName}: ${op} -> ${dtype}${JSON.stringify(shape)} in [${minOf(lo)}, ${maxOf(hi)}]`);
    for (const c of consts) body.push(`    var ${comp}_${c.name}${c.dims.map((d) => `[${d}]`).join("")} = ${circomArray(c.values, c.dims)};`);
    const args = params.map((p) => (typeof p === "string" && p.startsWith("$") ? `${comp}_${p.slice(1)}` : String(p)));
    body.push(`    component ${comp} = ${template}(${args.join(", ")});`);
    body.push(`    ${comp}.in <== ${x.ref};`);
    values.set(outName, { kind: "signal", dtype, shape, ref: `${comp}.out`, lo, hi });
    layers.push({ node: nodeName, op, template, params: args.join(", "), outputRange: [String(minOf(lo)), String(maxOf(hi))] });
  };
  const alias = (nodeName: string, op: string, outName: string, x: SignalTensor, dtype: IntDType, shape: number[]) => {
    checkDtype(dtype, x.lo, x.hi, nodeName);
    values.set(outName, { ...x, dtype, shape });
    body.push(``, `    // ${nodeName}: ${op} (no constraints: value range already ${dtype})`);
    layers.push({ node: nodeName, op, template: null, params: "", outputRange: [String(minOf(x.lo)), String(maxOf(x.hi))] });
  };

  for (const node of graph.node ?? []) {
    const op = node.opType ?? "";
    const name = node.name || `${op}_${layers.length}`;
    const ins = node.input ?? [];
    const outName = (node.output ?? [])[0];
    if (!outName || (node.output ?? []).length !== 1) throw new ZkCompileError("expects exactly one output", name);
    if (node.domain) throw new ZkCompileError(`custom domain ${node.domain} unsupported`, name);
    switch (op) {
      case "Reshape": {
        const x = signalArg(ins[0], name);
        const target = constArg(ins[1], name).values.map(Number);
        const known = target.reduce((a, d, i) => a * (d === -1 ? 1 : d === 0 ? (x.shape[i] ?? 1) : d), 1);
        const shape = target.map((d, i) => (d === -1 ? numel(x.shape) / known : d === 0 ? (x.shape[i] ?? 1) : d));
        if (numel(shape) !== numel(x.shape) || shape.some((d) => !Number.isInteger(d))) throw new ZkCompileError(`cannot reshape ${JSON.stringify(x.shape)} to ${JSON.stringify(target)}`, name);
        alias(name, "Reshape", outName, x, x.dtype, shape);
        break;
      }
      case "MatMulInteger": {
        const x = signalArg(ins[0], name);
        const w = constArg(ins[1], name);
        for (const zp of ins.slice(2)) {
          if (zp && constArg(zp, name).values.some((v) => v !== 0n)) throw new ZkCompileError("non-zero zero points are not supported", name);
        }
        if (x.dtype !== "int8" || w.dtype !== "int8") throw new ZkCompileError("expects int8 x int8", name);
        if (w.shape.length !== 2) throw new ZkCompileError("B must be a constant 2-D matrix", name);
        const [k, n] = w.shape as [number, number];
        if (x.shape[x.shape.length - 1] !== k || numel(x.shape) !== k) throw new ZkCompileError(`A must be [1, ${k}] (batch 1), got ${JSON.stringify(x.shape)}`, name);
        const lo: bigint[] = [];
        const hi: bigint[] = [];
        for (let j = 0; j < n; j++) {
          let l = 0n;
          let h = 0n;
          for (let i = 0; i < k; i++) {
            const wv = w.values[i * n + j] as bigint;
            const a = wv * (x.lo[i] as bigint);
            const b = wv * (x.hi[i] as bigint);
            l += min(a, b);
            h += max(a, b);
          }
          lo.push(l);
          hi.push(h);
        }
        emit(name, op, outName, "MatMulIntegerConst", "matmul_integer.circom", [k, n, "$w"], x, "int32", [...x.shape.slice(0, -1), n], lo, hi,
          [{ name: "w", dims: [k, n], values: w.values }]);
        break;
      }
      case "Add":
      case "Sub":
      case "Mul": {
        const a = values.get(ins[0] ?? "");
        const b = values.get(ins[1] ?? "");
        let x: SignalTensor;
        let c: ConstTensor;
        if (a?.kind === "signal" && b?.kind === "const") { x = a; c = b; }
        else if (op !== "Sub" && a?.kind === "const" && b?.kind === "signal") { x = b; c = a; }
        else throw new ZkCompileError(`${op} needs one computed and one constant operand${op === "Sub" ? " (constant second)" : ""}`, name);
        if (x.dtype !== c.dtype) throw new ZkCompileError(`dtype mismatch ${x.dtype} vs ${c.dtype}`, name);
        const cv = broadcast(c, x, name).map((v) => (op === "Sub" ? -v : v));
        const lo: bigint[] = [];
        const hi: bigint[] = [];
        cv.forEach((cc, i) => {
          const l = x.lo[i] as bigint;
          const h = x.hi[i] as bigint;
          if (op === "Mul") { lo.push(min(l * cc, h * cc)); hi.push(max(l * cc, h * cc)); }
          else { lo.push(l + cc); hi.push(h + cc); }
        });
        const n = numel(x.shape);
        const template = op === "Mul" ? "MulConst" : "AddConst";
        const file = op === "Mul" ? "mul_const.circom" : "add_const.circom";
        emit(name, op, outName, template, file, [n, "$c"], x, x.dtype, x.shape, lo, hi, [{ name: "c", dims: [n], values: cv }]);
        break;
      }
      case "Relu": {
        const x = signalArg(ins[0], name);
        const lo = x.lo.map((v) => max(v, 0n));
        const hi = x.hi.map((v) => max(v, 0n));
        if (minOf(x.lo) >= 0n) { alias(name, "Relu", outName, x, x.dtype, x.shape); break; }
        emit(name, op, outName, "Relu", "relu.circom", [numel(x.shape), signedBits(minOf(x.lo), maxOf(x.hi))], x, x.dtype, x.shape, lo, hi);
        break;
      }
      case "Div": {
        const x = signalArg(ins[0], name);
        const d = constArg(ins[1], name);
        if (d.values.length !== 1) throw new ZkCompileError("divisor must be a scalar constant", name);
        const divisor = d.values[0] as bigint;
        const shift = divisor > 1n ? divisor.toString(2).length - 1 : 0;
        if (divisor <= 1n || 1n << BigInt(shift) !== divisor) throw new ZkCompileError(`divisor ${divisor} must be a power of two >= 2`, name);
        if (minOf(x.lo) < 0n) throw new ZkCompileError("numerator may be negative: ONNX Div truncates towards zero, the circuit implements floor; add an offset first", name);
        const lo = x.lo.map((v) => v >> BigInt(shift));
        const hi = x.hi.map((v) => v >> BigInt(shift));
        emit(name, op, outName, "DivFloorPow2", "div_floor.circom", [numel(x.shape), shift, unsignedBits(maxOf(hi))], x, x.dtype, x.shape, lo, hi);
        break;
      }
      case "Clip": {
        const x = signalArg(ins[0], name);
        if (!ins[1] || !ins[2]) throw new ZkCompileError("Clip needs both min and max constants", name);
        const cl = constArg(ins[1], name).values;
        const ch = constArg(ins[2], name).values;
        if (cl.length !== 1 || ch.length !== 1) throw new ZkCompileError("Clip bounds must be scalars", name);
        const LO = cl[0] as bigint;
        const HI = ch[0] as bigint;
        if (LO > HI) throw new ZkCompileError("Clip min > max", name);
        const xlo = minOf(x.lo);
        const xhi = maxOf(x.hi);
        const checkLo = xlo < LO;
        const checkHi = xhi > HI;
        const lo = x.lo.map((v) => min(max(v, LO), HI));
        const hi = x.hi.map((v) => min(max(v, LO), HI));
        if (!checkLo && !checkHi) { alias(name, "Clip", outName, x, x.dtype, x.shape); break; }
        // differences compared: in - LO and HI - in
        const bits = comparatorBits(min(xlo - LO, HI - xhi), max(xhi - LO, HI - xlo));
        emit(name, op, outName, "Clip", "clip.circom", [numel(x.shape), LO.toString(), HI.toString(), bits, checkLo ? 1 : 0, checkHi ? 1 : 0], x, x.dtype, x.shape, lo, hi);
        break;
      }
      case "Cast": {
        const x = signalArg(ins[0], name);
        const to = node.attribute?.find((a) => a.name === "to")?.i;
        const dtype = dtypeOf(Number(to), name);
        alias(name, `Cast(${dtype})`, outName, x, dtype, x.shape);
        break;
      }
      default:
        throw new ZkCompileError(`operator ${op} is not in the supported integer operator set`, name);
    }
  }

  const outputName = output.name ?? "";
  const out = signalArg(outputName, "graph output");
  if (out.dtype !== "int8") throw new ZkCompileError("the graph output must be int8", outputName);
  const outputShape = staticShape(output);
  if (JSON.stringify(outputShape) !== JSON.stringify(out.shape)) throw new ZkCompileError(`declared output shape ${JSON.stringify(outputShape)} != computed ${JSON.stringify(out.shape)}`);
  const nOut = numel(out.shape);
  const outputWords = Math.ceil(nOut / BYTES_PER_WORD);
  body.push(``, `    // ${outputName}: int8${JSON.stringify(out.shape)} to ${outputWords} public output word(s)`);
  body.push(`    component c_output = PackInt8(${nOut});`);
  body.push(`    c_output.in <== ${out.ref};`);
  body.push(`    outputWords <== c_output.words;`);

  const modelHash = sha256Hex(modelBytes);
  const circom = [
    `// Generated by circuits/compiler.ts (compiler v${COMPILER_VERSION}); do not edit.`,
    `// Model: ${graph.name ?? ""}, sha256 ${modelHash}`,
    `// Public signals (snarkjs order): outputWords[${outputWords}], then inputWords[${inputWords}]; each word packs`,
    `// 31 canonical int8 tensor bytes big-endian (see templates/int8_unpack.circom).`,
    `pragma circom 2.1.0;`,
    ``,
    ...[...includes].sort().map((f) => `include "${f}";`),
    ``,
    `template ${templateName}() {`,
    `    signal input inputWords[${inputWords}];`,
    `    signal output outputWords[${outputWords}];`,
    ``,
    ...body,
    `}`,
    ``,
    `component main {public [inputWords]} = ${templateName}();`,
    ``,
  ].join("\n");
  return { circom, modelHash, inputName, inputShape, outputName, outputShape, inputWords, outputWords, layers };
}
