/** worker/model-process.ts: a model in its own process gives onnxruntime's own answers, bit for bit. */
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textLineTensor } from "../../examples/text-images.js";
import { ProcessSession, residentBytes } from "../../worker/model-process.js";
import { toOrtTensor } from "../../worker/runner.js";
import { CLS_PATH } from "./fixtures.js";

const OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], graphOptimizationLevel: "all" };
const LIMITS = { memoryBytes: 1024 * 2 ** 20, runTimeoutMs: 20_000, loadTimeoutMs: 30_000 };

describe("ProcessSession", () => {
  let local: ort.InferenceSession;
  let remote: ProcessSession;
  beforeAll(async () => {
    local = await ort.InferenceSession.create(CLS_PATH, OPTIONS);
    remote = await ProcessSession.create(CLS_PATH, OPTIONS, LIMITS);
  });
  afterAll(async () => {
    await local?.release();
    await remote?.release();
  });

  it("test_run_matchesInProcessBitForBit_andKeepsTheCallersInput", async () => {
    expect(remote.inputNames).toEqual(local.inputNames);
    expect(remote.outputNames).toEqual(local.outputNames);
    expect(remote.inputMetadata).toEqual(local.inputMetadata);
    for (const rotated of [false, true]) {
      const input = textLineTensor("bit for bit", { rotated });
      const before = Float32Array.from(input.data as Float32Array);
      const feeds = { [local.inputNames[0]!]: toOrtTensor(input) };
      const a = await local.run(feeds);
      const b = await remote.run(feeds, [remote.outputNames[0]!]);
      const x = a[local.outputNames[0]!]!;
      const y = b[remote.outputNames[0]!]!;
      expect(y.type).toBe(x.type);
      expect(y.dims).toEqual(x.dims);
      expect(Buffer.from((y.data as Float32Array).buffer, (y.data as Float32Array).byteOffset, (y.data as Float32Array).byteLength).equals(Buffer.from((x.data as Float32Array).buffer, (x.data as Float32Array).byteOffset, (x.data as Float32Array).byteLength))).toBe(true);
      expect(input.data).toEqual(before);
    }
  });

  it("test_run_twoInFlight_eachGetsItsOwnAnswer", async () => {
    const inputs = [false, true, false, true].map((rotated, i) => textLineTensor(`in flight ${i}`, { rotated }));
    const name = remote.inputNames[0]!;
    const outs = await Promise.all(inputs.map((t) => remote.run({ [name]: toOrtTensor(t) })));
    const probs = outs.map((o) => Array.from(o[remote.outputNames[0]!]!.data as Float32Array));
    expect(probs.map(([p0, p1]) => p1! > p0!)).toEqual([false, true, false, true]);
    expect(remote.peakResidentBytes).toBeGreaterThan(0);
    expect(residentBytes(remote.pid!)).toBeGreaterThan(10 * 2 ** 20);
  });

  it("test_onKill_countsACrashOnce_andNeverARelease", async () => {
    const reasons: string[] = [];
    const s = await ProcessSession.create(CLS_PATH, OPTIONS, { ...LIMITS, onKill: (r) => reasons.push(r) });
    await s.release();
    expect(reasons).toEqual([]);
    const t = await ProcessSession.create(CLS_PATH, OPTIONS, { ...LIMITS, onKill: (r) => reasons.push(r) });
    const name = t.inputNames[0]!;
    const pending = t.run({ [name]: toOrtTensor(textLineTensor("about to crash")) }).catch((e: Error) => e);
    process.kill(t.pid!, "SIGKILL");
    expect(await pending).toBeInstanceOf(Error);
    await t.release();
    expect(reasons).toEqual(["crash"]);
  });

  it("test_create_missingModel_rejectsWithOrtsMessage", async () => {
    await expect(ProcessSession.create("/nonexistent/model.onnx", OPTIONS, LIMITS)).rejects.toThrow(/nonexistent|No such file|Load model/i);
  });
});
