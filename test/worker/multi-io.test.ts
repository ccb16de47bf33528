/**
 * The worker on a model with several named inputs and outputs (issue 14): models/vad-gru.onnx, a
 * recurrent voice-activity model (input frame, int64 sample-rate scalar, state in; probability and
 * next state out). Every input is fed by name, every output comes back in the bundle, the state
 * carries from one job's output to the next job's input, and each mismatch is a signed rejection with
 * a sentence that names the tensor.
 */
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleEntries, decodeBundle, encodeBundle, encodeTensor, fromHex, hashBundleEncoded, RejectReason, Tier, toHex, type Hex } from "../../protocol/index.js";
import { frame, SR, VAD_FILE as FILE, VAD_HASH, VAD_MODEL, ZERO_STATE } from "./vad-fixtures.js";
import { attackJob, attackWorker, type AttackWorker } from "../attacks/harness.js";

/** A job whose input is `bytes` (a bundle), inline. */
function bundleJob(bytes: Buffer, tier: Tier = Tier.NONE) {
  const job = attackJob(VAD_HASH, { dtype: "uint8", shape: [1], data: Uint8Array.of(0) });
  let inputHash: Hex = job.inputHash as Hex;
  try {
    inputHash = hashBundleEncoded(bytes);
  } catch {
    // malformed: the worker refuses it before comparing hashes
  }
  return { ...job, input: toHex(bytes), inputHash, tier };
}

describe("worker: a model with several named inputs and outputs", () => {
  let w: AttackWorker;
  beforeAll(async () => {
    w = await attackWorker([VAD_MODEL], { modelSchemes: ["file"] });
  });
  afterAll(async () => {
    await w?.close();
  });

  it("test_serve_statefulModel_everyOutputByName_stateCarriedAcrossJobs", async () => {
    const session = await ort.InferenceSession.create(FILE);
    let state = ZERO_STATE;
    let expectedState: ort.Tensor = new ort.Tensor("float32", new Float32Array(8), [1, 1, 8]);
    for (let i = 0; i < 3; i++) {
      const bytes = encodeBundle({ input: frame(i), sr: SR, state });
      const reply = await w.serve(bundleJob(bytes));
      expect(reply.kind, JSON.stringify(reply)).toBe("result");
      const out = fromHex(reply.output as Hex);
      expect(hashBundleEncoded(out)).toBe(reply.outputHash);
      expect(bundleEntries(out).map((e) => e.name)).toEqual(["output", "stateN"]);
      const outputs = decodeBundle(out);
      // The same numbers onnxruntime gives for the same frame and the state carried so far.
      const f = frame(i);
      const ref = await session.run({ input: new ort.Tensor("float32", f.data as Float32Array, [1, 64]), sr: new ort.Tensor("int64", BigInt64Array.of(16000n), []), state: expectedState });
      expect(Array.from(outputs.get("output")!.data as Float32Array)).toEqual(Array.from(ref.output!.data as Float32Array));
      expect(Array.from(outputs.get("stateN")!.data as Float32Array)).toEqual(Array.from(ref.stateN!.data as Float32Array));
      expect(outputs.get("stateN")!.shape).toEqual([1, 1, 8]);
      // The next job's input state is this job's output state.
      state = outputs.get("stateN")!;
      expectedState = ref.stateN!;
    }
    expect(Array.from(state.data as Float32Array).some((v) => v !== 0)).toBe(true);
  });

  it.each([
    ["missing input", () => encodeBundle({ input: frame(0), state: ZERO_STATE }), RejectReason.SpecMismatch, /^missing input "sr"; the model's inputs are "input", "sr", "state"$/],
    ["extra input", () => encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE, extra: SR }), RejectReason.SpecMismatch, /^unexpected input "extra"/],
    ["misnamed input", () => encodeBundle({ input: frame(0), sr: SR, h: ZERO_STATE }), RejectReason.SpecMismatch, /unexpected input "h"; missing input "state" \(is "h" meant to be "state"\?\)/],
    ["int32 sample rate", () => encodeBundle({ input: frame(0), sr: { dtype: "int32", shape: [], data: Int32Array.of(16000) }, state: ZERO_STATE }), RejectReason.SpecMismatch, /^input "sr" has dtype int32, the model expects int64$/],
    ["state of the wrong shape", () => encodeBundle({ input: frame(0), sr: SR, state: { dtype: "float32", shape: [1, 8], data: new Float32Array(8) } }), RejectReason.SpecMismatch, /^input "state" has rank 2, the model expects rank 3/],
    ["one bare tensor", () => encodeTensor(frame(0)), RejectReason.SpecMismatch, /the model has 3 inputs \(input, sr, state\): send a bundle naming each/],
    ["a bundle cut short", () => encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE }).subarray(0, 200), RejectReason.MalformedInput, /bundle entry "input" claims 272 bytes/],
  ] as const)("test_serve_%s_rejectedWithTheReason", async (_name, build, reason, message) => {
    const reply = await w.serve(bundleJob(Buffer.from(build())));
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.reason).toBe(reason);
    expect(reply.message).toMatch(message);
    // A bundle is not a tensor header: no type-mismatch proof rides along (the relayer rejects plainly).
    expect(reply.inputHeader).toBeUndefined();
  });

  it("test_serve_optimisticTier_refusedServedInNoneOnly", async () => {
    const reply = await w.serve(bundleJob(encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE }), Tier.OPTIMISTIC));
    expect(reply.kind).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.InferenceFailed);
    expect(reply.message).toBe("the model has several inputs or outputs: it is served in the NONE tier only");
  });

  it("test_serve_oversizedBundle_refusedBeforeDecoding", async () => {
    const small = await attackWorker([VAD_MODEL], { modelSchemes: ["file"], maxInputBytes: 256 });
    try {
      const bytes = encodeBundle({ input: frame(0), sr: SR, state: ZERO_STATE });
      expect(bytes.byteLength).toBe(375);
      const reply = await small.serve(bundleJob(bytes));
      expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
      expect(reply.message).toBe("the inline input is 375 bytes, more than the limit of 256");
    } finally {
      await small.close();
    }
  });
});
