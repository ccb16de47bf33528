/** Bundles checked against a model's named specs: each mismatch is a clear error that names the tensor. */
import { describe, it, expect } from "vitest";
import { bundleEntries, decodeBundle, decodeBundleFor, encodeBundle, encodeBundleFor, hashBundle, hashBundleEncoded, matchBundle, type NamedTensorSpec } from "../../protocol/bundle.js";
import { encodeTensor, hashTensor, type Tensor } from "../../protocol/tensor.js";
import { OracleError } from "../../protocol/errors.js";

const SPECS: NamedTensorSpec[] = [
  { name: "input", dtype: "float32", shape: [1, 64] },
  { name: "sr", dtype: "int64", shape: [] },
  { name: "state", dtype: "float32", shape: [1, 1, 8] },
];
const frame: Tensor = { dtype: "float32", shape: [1, 64], data: new Float32Array(64).fill(0.25) };
const state: Tensor = { dtype: "float32", shape: [1, 1, 8], data: new Float32Array(8) };
const sr: Tensor = { dtype: "int64", shape: [], data: BigInt64Array.of(16000n) };

function errorOf(fn: () => unknown): OracleError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OracleError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

describe("tensor bundles", () => {
  it("test_roundTrip_anyInsertionOrder_sameBytesAndHash", () => {
    const a = encodeBundle({ state, input: frame, sr });
    const b = encodeBundle(new Map([["sr", sr], ["input", frame], ["state", state]]));
    expect(a.equals(b)).toBe(true);
    expect(hashBundle({ input: frame, sr, state })).toBe(hashBundleEncoded(a));
    const back = decodeBundleFor(a, SPECS);
    expect([...back.keys()]).toEqual(["input", "sr", "state"]);
    expect(back.get("sr")!.data).toEqual(BigInt64Array.of(16000n));
    expect(Array.from(back.get("input")!.data as Float32Array)).toEqual(Array.from(frame.data as Float32Array));
    expect([...decodeBundle(a).keys()]).toEqual(["input", "sr", "state"]);
  });

  it("test_hash_oneChangedElementOrSwappedNames_differs", () => {
    const base = hashBundle({ input: frame, sr, state });
    const other = new Float32Array(frame.data as Float32Array);
    other[63] = 0.5;
    expect(hashBundle({ input: { ...frame, data: other }, sr, state })).not.toBe(base);
    // Same tensors under swapped names: another bundle, another hash.
    const x: Tensor = { dtype: "float32", shape: [1, 1, 8], data: new Float32Array(8).fill(1) };
    expect(hashBundle({ a: x, b: state })).not.toBe(hashBundle({ a: state, b: x }));
  });

  it("test_singleTensorModel_bareTensorOnly", () => {
    const one: NamedTensorSpec[] = [{ name: "x", dtype: "float32", shape: [1, 64] }];
    expect(encodeBundleFor({ x: frame }, one).equals(encodeTensor(frame))).toBe(true);
    expect(hashBundleEncoded(encodeBundleFor({ x: frame }, one))).toBe(hashTensor(frame));
    expect(decodeBundleFor(encodeTensor(frame), one).get("x")!.shape).toEqual([1, 64]);
    const e = errorOf(() => decodeBundleFor(encodeBundle({ x: frame, y: state }), one));
    expect(e.code).toBe("TENSOR_SPEC_MISMATCH");
    expect(e.message).toMatch(/the model has one input \(x\): send the tensor itself, not a bundle of 2/);
  });

  it("test_match_missingInput_namesIt", () => {
    const e = errorOf(() => decodeBundleFor(encodeBundle({ input: frame, state }), SPECS));
    expect(e.code).toBe("TENSOR_SPEC_MISMATCH");
    expect(e.message).toBe(`missing input "sr"; the model's inputs are "input", "sr", "state"`);
    expect(e.details).toMatchObject({ missing: ["sr"], unexpected: [] });
  });

  it("test_match_extraInput_namesIt", () => {
    const e = errorOf(() => decodeBundleFor(encodeBundle({ input: frame, sr, state, extra: sr }), SPECS));
    expect(e.message).toMatch(/^unexpected input "extra"; the model's inputs are/);
  });

  it("test_match_misnamedInput_suggestsTheName", () => {
    const e = errorOf(() => decodeBundleFor(encodeBundle({ input: frame, sr, h: state }), SPECS));
    expect(e.message).toMatch(/unexpected input "h"; missing input "state" \(is "h" meant to be "state"\?\)/);
  });

  it("test_match_wrongDtypeOrShape_namesTheTensor", () => {
    const sr32: Tensor = { dtype: "int32", shape: [], data: Int32Array.of(16000) };
    expect(errorOf(() => decodeBundleFor(encodeBundle({ input: frame, sr: sr32, state }), SPECS)).message).toBe(`input "sr" has dtype int32, the model expects int64`);
    const wide: Tensor = { dtype: "float32", shape: [1, 1, 9], data: new Float32Array(9) };
    expect(errorOf(() => decodeBundleFor(encodeBundle({ input: frame, sr, state: wide }), SPECS)).message).toBe(`input "state" has dimension 2 = 9, the model expects 8`);
  });

  it("test_match_bareTensorForSeveralInputs_refused", () => {
    const e = errorOf(() => decodeBundleFor(encodeTensor(frame), SPECS));
    expect(e.message).toMatch(/the model has 3 inputs \(input, sr, state\): send a bundle naming each, not a single tensor/);
  });

  it("test_malformed_refusedBeforeAllocating", () => {
    const good = encodeBundle({ input: frame, sr, state });
    // Claim a 4 GB entry: refused from the framing, no allocation.
    const bad = Buffer.from(good);
    bad.writeUInt32BE(0xffffffff, 8 + 1 + "input".length);
    const e = errorOf(() => bundleEntries(bad));
    expect(e.code).toBe("TENSOR_MALFORMED");
    expect(e.details.formatCode).toBe(9);
    expect(errorOf(() => encodeBundle({})).details.formatCode).toBe(7);
    expect(errorOf(() => encodeBundle({ "": frame, b: sr })).details.formatCode).toBe(8);
    expect(errorOf(() => matchBundle(bundleEntries(good), SPECS.slice(0, 2))).message).toMatch(/unexpected input "state"/);
  });
});
