/**
 * Issue 13, finding 8 (memory, the kernel's half): the worker's sampled cap (VmRSS every 20 ms) can be
 * overshot by whatever a model allocates between two samples. Each model process now also starts
 * under RLIMIT_DATA (prlimit --data, no privilege needed): the kernel refuses the allocation past the
 * cap however fast it comes, the process is killed, the job gets the same generic signed rejection
 * (MODEL_RESOURCE_LIMIT), and the worker keeps serving. Here the sampling is switched off
 * (modelMemoryPollMs 0), so only the kernel can stop the bomb.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RejectReason, decodeTensor, bytesOf, fromHex, type Hex, OracleError } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { sha256Hex, type ModelEntry, KERNEL_CAP_AVAILABLE, ProcessSession } from "../../worker/index.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI, tempDir } from "../worker/fixtures.js";
import { attackJob, attackWorker, type AttackWorker } from "./harness.js";
import { inputSizedMemoryBomb } from "./resource-models.js";

const MiB = 2 ** 20;
const CAP_MB = 256;
const GENERIC = "the model exceeded the worker's resource limits for one run";
const scalar = (v: number) => ({ dtype: "float32" as const, shape: [1], data: Float32Array.of(v) });

describe.skipIf(!KERNEL_CAP_AVAILABLE)("attack: a model that allocates past the memory cap faster than it is sampled", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let bombPath: string;
  let bomb: ModelEntry;
  let w: AttackWorker;

  beforeAll(async () => {
    tmp = await tempDir();
    const bytes = inputSizedMemoryBomb();
    bombPath = join(tmp.dir, "bomb.onnx");
    writeFileSync(bombPath, bytes);
    bomb = { modelHash: sha256Hex(bytes), uris: [bombPath], input: { dtype: "float32", shape: [1] }, output: { dtype: "float32", shape: [0] } };
    w = await attackWorker([bomb, { modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }], {
      modelSchemes: ["file", "npm"],
      modelProcess: true,
      modelMemoryLimitMb: CAP_MB,
      modelMemoryPollMs: 0, // no sampling: the kernel alone
      modelRunTimeoutMs: 30_000,
    });
  });
  afterAll(async () => {
    await w?.close();
    await tmp?.cleanup();
  });

  const open = (limits: { dataBytes?: number; prlimitPath?: string }) =>
    ProcessSession.create(bombPath, { executionProviders: ["cpu"] }, { memoryBytes: 0, runTimeoutMs: 30_000, loadTimeoutMs: 30_000, pollMs: 0, ...limits });
  const run = (s: ProcessSession, n: number) => s.run({ x: new ort.Tensor("float32", Float32Array.of(n), [1]) });

  it("without a cap the bomb is real: [1e8] allocates and fills 400 MB, with no sampling to stop it", async () => {
    const s = await open({});
    try {
      expect(s.kernelCapped).toBe(false);
      const out = await run(s, 1e8);
      expect(out.y!.dims).toEqual([1e8]);
    } finally {
      await s.release();
    }
  });

  it("under RLIMIT_DATA the kernel refuses the same allocation: MODEL_RESOURCE_LIMIT, enforced by the kernel, and the process is gone", async () => {
    const s = await open({ dataBytes: CAP_MB * MiB });
    expect(s.kernelCapped).toBe(true);
    // The limit is the kernel's, on the model's own process.
    expect(readFileSync(`/proc/${s.pid}/limits`, "latin1")).toMatch(new RegExp(`Max data size\\s+${CAP_MB * MiB}\\s+${CAP_MB * MiB}\\s+bytes`));
    const small = await run(s, 1000); // honest work under the cap still runs
    expect(small.y!.dims).toEqual([1000]);
    const pid = s.pid!;
    const error = await run(s, 1e8).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OracleError);
    expect((error as OracleError).code).toBe("MODEL_RESOURCE_LIMIT");
    expect((error as OracleError).details).toMatchObject({ limit: "memory", enforcedBy: "kernel", limitBytes: CAP_MB * MiB });
    expect(s.alive).toBe(false);
    const deadline = Date.now() + 3_000;
    while (existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "latin1")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "latin1"))).toBe(false);
    await s.release();
  });

  it("where prlimit is missing the process still opens, uncapped by the kernel (kernelCapped false: the provider logs a warning)", async () => {
    const s = await open({ dataBytes: CAP_MB * MiB, prlimitPath: "/nonexistent/prlimit" });
    try {
      expect(s.kernelCapped).toBe(false);
      expect(readFileSync(`/proc/${s.pid}/limits`, "latin1")).toMatch(/Max data size\s+unlimited/);
    } finally {
      await s.release();
    }
  });

  it("through the worker: one generic signed rejection, the worker serves the next honest job, and the bomb's model gets a fresh process", async () => {
    const reply = await w.serve(attackJob(bomb.modelHash as Hex, scalar(4e8)), 30_000);
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.InferenceFailed);
    expect(reply.code).toBe("MODEL_RESOURCE_LIMIT");
    expect(reply.message).toBe(GENERIC);

    const honest = await w.serve(attackJob(CLS_HASH, textLineTensor("served after the kernel cap")));
    expect(honest.kind, JSON.stringify(honest)).toBe("result");
    const again = await w.serve(attackJob(bomb.modelHash as Hex, scalar(4)));
    expect(again.kind, JSON.stringify(again)).toBe("result");
    expect(decodeTensor(bytesOf(again.output as string | Uint8Array)).shape).toEqual([4]);
    // The kill is counted by reason in the worker's Prometheus metrics.
    const kills = await w.worker.metrics.registry.getSingleMetricAsString("oracle_worker_model_process_kills_total");
    expect(kills).toMatch(/reason="memory"[^}]*\} 1\n/);
    expect(kills).toMatch(/reason="timeout"[^}]*\} 0\n/);
    expect(kills).toMatch(/reason="crash"[^}]*\} 0(\n|$)/);
  });
});
