import { describe, expect, it } from "vitest";
import { evaluateKernel, floatBound, FLOAT32_U, isChallengerError, prepareOperator, type OpContext } from "../../challenger/index.js";
import type { AttributeValue, Tensor } from "../../protocol/index.js";

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: "float32", shape, data: new Float32Array(values) });
const ctx = (inputs: Array<Tensor | undefined>, attributes: Record<string, AttributeValue> = {}, opset = 13): OpContext => ({ inputs, attributes: new Map(Object.entries(attributes)), opset });
const run = (op: string, c: OpContext) => evaluateKernel(prepareOperator(op, c));
const values = (t: Tensor): Array<number | bigint> => [...(t.data as Iterable<number | bigint>)];

describe("reference operators", () => {
  it("test_Conv_smallKnown_succeeds", () => {
    // 1x1x3x3 input, one 2x2 kernel of ones, bias 1, stride 1, no padding.
    const out = run("Conv", ctx([f32([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]), f32([1, 1, 2, 2], [1, 1, 1, 1]), f32([1], [1])]))[0]!;
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(out.data as Float32Array)).toEqual([13, 17, 25, 29]);
  });

  it("test_integerOps_exactWithWraparound_succeeds", () => {
    const i32 = (v: number[]): Tensor => ({ dtype: "int32", shape: [v.length], data: new Int32Array(v) });
    expect(values(run("Add", ctx([i32([2 ** 31 - 1, 5]), i32([1, -7])]))[0]!)).toEqual([-(2 ** 31), -2]);
    expect(values(run("Mul", ctx([i32([65536, -3]), i32([65536, 4])]))[0]!)).toEqual([0, -12]);
    expect(values(run("Max", ctx([i32([1, 9]), i32([4, -2])]))[0]!)).toEqual([4, 9]);
    const a: Tensor = { dtype: "int64", shape: [1, 2], data: new BigInt64Array([3n, -4n]) };
    const b: Tensor = { dtype: "int64", shape: [2, 1], data: new BigInt64Array([5n, 6n]) };
    expect(values(run("MatMul", ctx([a, b]))[0]!)).toEqual([-9n]);
    const u8: Tensor = { dtype: "uint8", shape: [2], data: new Uint8Array([0x81, 0x0f]) };
    const s: Tensor = { dtype: "uint8", shape: [1], data: new Uint8Array([1]) };
    const dir = (d: string): Record<string, AttributeValue> => ({ direction: { type: "string", value: Buffer.from(d) } });
    expect(values(run("BitShift", ctx([u8, s], dir("LEFT")))[0]!)).toEqual([0x02, 0x1e]);
    expect(values(run("BitShift", ctx([u8, s], dir("RIGHT")))[0]!)).toEqual([0x40, 0x07]);
  });

  it("test_Softmax_opset9Coerces2D_succeeds", () => {
    const out = run("Softmax", ctx([f32([1, 2], [0, Math.log(3)])], { axis: { type: "int", value: 1n } }, 9))[0]!;
    expect(Array.from(out.data as Float32Array)).toEqual([0.25, 0.75].map(Math.fround));
  });

  it("test_floatBound_isTwoGammaOfTerms", () => {
    expect(floatBound(0, 0)).toBe(2 ** -126);
    expect(floatBound(99, 1)).toBeCloseTo(2 * 100 * FLOAT32_U, 9);
  });

  it("test_prepareOperator_unknownOp_throwsOpUnsupported", () => {
    try {
      prepareOperator("LSTM", ctx([]));
      expect.unreachable();
    } catch (error) {
      expect(isChallengerError(error, "OP_UNSUPPORTED")).toBe(true);
    }
  });
});
