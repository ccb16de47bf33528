import ort from "onnxruntime-node";
import { describe, expect, it, vi } from "vitest";
import type { Hex } from "../../protocol/index.js";
import { ProviderProber, SessionCache, probeOrder } from "../../worker/index.js";
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

describe("SessionCache", () => {
  const hash = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;

  function cache(capacity: number) {
    const prober = new ProviderProber({ preferences: ["cpu"], settings, logger: silentLogger() });
    const sessions: ort.InferenceSession[] = [];
    const released: ort.InferenceSession[] = [];
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
    const out = await lease.session.run({ x });
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
