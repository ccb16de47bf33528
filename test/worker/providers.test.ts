import ort from "onnxruntime-node";
import { describe, expect, it, vi } from "vitest";
import type { Hex } from "../../protocol/index.js";
import { ProviderProber, SessionCache, probeOrder } from "../../worker/index.js";
import { ThreadedSession, type InferenceSessionLike } from "../../worker/ort-thread.js";
import { KERNEL_CAP_AVAILABLE } from "../../worker/model-process.js";
import { CLS_PATH, silentLogger } from "./fixtures.js";

const settings = { graphOptimizationLevel: "all" as const, intraOpNumThreads: 0 };

describe("ProviderProber", () => {
  it("test_probeOrder_dedupsAndPutsCpuLast", () => {
    expect(probeOrder(["cpu", "cuda", "webgpu", "cuda"])).toEqual(["cuda", "webgpu", "cpu"]);
    expect(probeOrder([])).toEqual(["cpu"]);
  });

  it("test_open_unbundledGpuProviders_fallBackToCpu", async () => {
    const prober = new ProviderProber({ preferences: ["cuda", "tensorrt", "cpu"], settings, logger: silentLogger() });
    const opened = await prober.open(CLS_PATH);
    try {
      expect(opened.provider).toBe("cpu");
      // This build bundles neither CUDA nor TensorRT: skipped without a try.
      expect(opened.attempts.map((a) => [a.provider, a.outcome])).toEqual([
        ["cuda", "not-bundled"],
        ["tensorrt", "not-bundled"],
        ["cpu", "opened"],
      ]);
      expect(opened.session.inputNames).toEqual(["x"]);
      expect(opened.session.outputNames).toEqual(["softmax_0.tmp_0"]);
    } finally {
      await opened.session.release();
    }
  });

  it("test_open_providerThatFailsToLoad_isCaughtAndRemembered", async () => {
    // Pretend the binding ships CUDA: creating the session then fails (no libraries), and cpu runs.
    const prober = new ProviderProber({
      preferences: ["cuda"],
      settings,
      logger: silentLogger(),
      listBackends: () => [
        { name: "cpu", bundled: true },
        { name: "cuda", bundled: true },
      ],
    });
    const first = await prober.open(CLS_PATH);
    expect(first.provider).toBe("cpu");
    expect(first.attempts[0]).toMatchObject({ provider: "cuda", outcome: "failed" });
    expect(first.attempts[0]!.error).toMatch(/load|librar/i);
    const second = await prober.open(CLS_PATH);
    expect(second.attempts[0]!.error).toMatch(/^skipped/);
    await Promise.all([first.session.release(), second.session.release()]);
  });

  it.runIf(process.env.WORKER_TEST_WEBGPU === "1")("test_open_webgpu_fallsBackOrRuns", async () => {
    const prober = new ProviderProber({ preferences: ["webgpu"], settings, logger: silentLogger() });
    const opened = await prober.open(CLS_PATH);
    expect(["webgpu", "cpu"]).toContain(opened.provider);
    await opened.session.release();
  });
});

describe("ProviderProber with model processes", () => {
  it.skipIf(!KERNEL_CAP_AVAILABLE)("test_open_withoutPrlimit_warnsOnceThatMemoryIsCappedBySamplingOnly", async () => {
    const warnings: string[] = [];
    const logger = silentLogger();
    logger.warn = ((_obj: unknown, msg?: string) => void warnings.push(String(msg))) as typeof logger.warn;
    const limits = { memoryBytes: 512 * 2 ** 20, dataBytes: 512 * 2 ** 20, runTimeoutMs: 10_000, loadTimeoutMs: 30_000 };
    const settings = { graphOptimizationLevel: "all" as const, intraOpNumThreads: 1 };
    const capped = new ProviderProber({ preferences: ["cpu"], settings: { ...settings, process: limits }, logger });
    const a = await capped.open(CLS_PATH);
    await a.session.release();
    expect(warnings).toEqual([]);
    const uncapped = new ProviderProber({ preferences: ["cpu"], settings: { ...settings, process: { ...limits, prlimitPath: "/nonexistent/prlimit" } }, logger });
    for (let i = 0; i < 2; i++) {
      const b = await uncapped.open(CLS_PATH);
      await b.session.release();
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/prlimit .* is not installed: .* capped by sampling only/);
  });
});

describe("SessionCache", () => {
  const hash = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;

  function cache(capacity: number) {
    const prober = new ProviderProber({ preferences: ["cpu"], settings, logger: silentLogger() });
    const sessions: InferenceSessionLike[] = [];
    const released: InferenceSessionLike[] = [];
    const open = vi.fn(async (path: string, context: Record<string, unknown>) => {
      const opened = await prober.open(path, context);
      const original = opened.session.release.bind(opened.session);
      opened.session.release = async () => {
        released.push(opened.session);
        await original();
      };
      sessions.push(opened.session);
      return opened;
    });
    return { c: new SessionCache({ capacity, open, providerKey: "cpu", logger: silentLogger() }), open, sessions, released };
  }

  it("test_acquire_cachesByModel_andEvictsLeastRecentlyUsed", async () => {
    const { c, open, sessions, released } = cache(2);
    (await c.acquire(hash(1), CLS_PATH)).release();
    (await c.acquire(hash(2), CLS_PATH)).release();
    (await c.acquire(hash(1), CLS_PATH)).release(); // hit: 1 becomes most recent
    expect(open).toHaveBeenCalledTimes(2);
    (await c.acquire(hash(3), CLS_PATH)).release(); // evicts 2
    expect(c.keys()).toEqual([hash(1), hash(3)]);
    await vi.waitFor(() => expect(released).toEqual([sessions[1]]));
    await c.close();
    await c.close();
    expect(released).toHaveLength(3);
  });

  it("test_evict_whileLeased_releasesOnlyAfterTheRun", async () => {
    const { c, sessions, released } = cache(1);
    const lease = await c.acquire(hash(1), CLS_PATH);
    (await c.acquire(hash(2), CLS_PATH)).release(); // evicts 1, which is still in use
    expect(released).toEqual([]);
    const x = new ort.Tensor("float32", new Float32Array(3 * 48 * 192), [1, 3, 48, 192]);
    const out = await lease.session.run({ x }, ["softmax_0.tmp_0"]);
    expect(out["softmax_0.tmp_0"]!.dims).toEqual([1, 2]);
    lease.release();
    lease.release(); // idempotent
    await vi.waitFor(() => expect(released).toEqual([sessions[0]]));
    await c.close();
  });

  it("test_acquire_concurrentMisses_openOnce", async () => {
    const { c, open } = cache(2);
    const leases = await Promise.all(Array.from({ length: 5 }, () => c.acquire(hash(7), CLS_PATH)));
    expect(open).toHaveBeenCalledTimes(1);
    leases.forEach((l) => l.release());
    await c.close();
  });
});

describe("ThreadedSession", () => {
  const x = () => {
    const data = new Float32Array(3 * 48 * 192);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000;
    return data;
  };

  it("test_run_matchesSessionOnTheJsThread_andKeepsTheCallersInput", async () => {
    const threaded = await ThreadedSession.create(CLS_PATH, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
    const direct = await ort.InferenceSession.create(CLS_PATH, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
    try {
      expect(threaded.inputNames).toEqual(direct.inputNames);
      expect(threaded.outputNames).toEqual(direct.outputNames);
      expect(threaded.inputMetadata).toEqual(direct.inputMetadata);
      const data = x();
      const a = await threaded.run({ x: new ort.Tensor("float32", data, [1, 3, 48, 192]) }, ["softmax_0.tmp_0"]);
      const b = await direct.run({ x: new ort.Tensor("float32", data, [1, 3, 48, 192]) }, ["softmax_0.tmp_0"]);
      expect(a["softmax_0.tmp_0"]!.dims).toEqual([1, 2]);
      expect(Array.from(a["softmax_0.tmp_0"]!.data as Float32Array)).toEqual(Array.from(b["softmax_0.tmp_0"]!.data as Float32Array));
      // Not transferred unless the caller says so: still readable here.
      expect(data.length).toBe(3 * 48 * 192);
      // A batch the caller hands over is transferred (detached here), and runs the same.
      const batch = new Float32Array(2 * data.length);
      batch.set(data, 0);
      batch.set(data, data.length);
      const c = await threaded.run({ x: new ort.Tensor("float32", batch, [2, 3, 48, 192]) }, ["softmax_0.tmp_0"], { transferInputs: true });
      expect(batch.byteLength).toBe(0);
      expect(c["softmax_0.tmp_0"]!.dims).toEqual([2, 2]);
    } finally {
      await threaded.release();
      await threaded.release(); // idempotent
      await direct.release();
    }
  });

  it("test_create_missingModel_rejectsWithOrtsMessage_and_runAfterRelease_throws", async () => {
    await expect(ThreadedSession.create("/nonexistent/model.onnx")).rejects.toThrow(/doesn't exist|failed/i);
    const s = await ThreadedSession.create(CLS_PATH);
    await s.release();
    await expect(s.run({ x: new ort.Tensor("float32", x(), [1, 3, 48, 192]) }, ["softmax_0.tmp_0"])).rejects.toThrow(/released/);
  });

  it("test_run_badInput_rejectsWithoutKillingTheThread", async () => {
    const s = await ThreadedSession.create(CLS_PATH);
    try {
      await expect(s.run({ x: new ort.Tensor("float32", new Float32Array(5), [1, 5]) }, ["softmax_0.tmp_0"])).rejects.toThrow();
      const ok = await s.run({ x: new ort.Tensor("float32", x(), [1, 3, 48, 192]) }, ["softmax_0.tmp_0"]);
      expect(ok["softmax_0.tmp_0"]!.dims).toEqual([1, 2]);
    } finally {
      await s.release();
    }
  });
});
