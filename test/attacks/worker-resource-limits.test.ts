/**
 * Issue 13, finding 8 (memory and time): a 188-byte model reached 6.4 GiB of resident memory in one
 * run, with no memory cap, run timeout or shape bound, inside the worker's own process. Now each model
 * runs in a child process of its own (worker/model-process.ts): above modelMemoryLimitMb or past
 * modelRunTimeoutMs the child is killed, the job gets one signed rejection with a generic reason, the
 * worker keeps serving other models, and the model's next job gets a fresh process.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RejectReason, Tier, decodeTensor, bytesOf, fromHex, type Hex } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { sha256Hex, type ModelEntry, ProcessSession } from "../../worker/index.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_PATH, CLS_URI, loopbackServer, tempDir } from "../worker/fixtures.js";
import { attackJob, attackWorker, type AttackWorker } from "./harness.js";
import { endlessLoop, inputSizedMemoryBomb } from "./resource-models.js";

const MEMORY_LIMIT_MB = 256;
const RUN_TIMEOUT_MS = 1_500;
const GENERIC = "the model exceeded the worker's resource limits for one run";

describe("attack: models that exhaust the worker's memory or hold its slot", () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let w: AttackWorker;
  let bomb: ModelEntry;
  let endless: ModelEntry;

  beforeAll(async () => {
    tmp = await tempDir();
    const entry = (name: string, bytes: Uint8Array, input: ModelEntry["input"], output: ModelEntry["output"]): ModelEntry => {
      const file = join(tmp.dir, `${name}.onnx`);
      writeFileSync(file, bytes);
      return { modelHash: sha256Hex(bytes), uris: [file], input, output };
    };
    bomb = entry("bomb", inputSizedMemoryBomb(), { dtype: "float32", shape: [1] }, { dtype: "float32", shape: [0] });
    endless = entry("endless", endlessLoop(), { dtype: "float32", shape: [1] }, { dtype: "float32", shape: [1] });
    w = await attackWorker([bomb, endless, { modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }], {
      modelSchemes: ["file", "npm"],
      modelProcess: true,
      modelMemoryLimitMb: MEMORY_LIMIT_MB,
      modelRunTimeoutMs: RUN_TIMEOUT_MS,
    });
  });
  afterAll(async () => {
    await w?.close();
    await tmp?.cleanup();
  });

  const scalar = (v: number) => ({ dtype: "float32" as const, shape: [1], data: Float32Array.of(v) });

  it("the bomb is real: a small input runs; [4e8] asks for 1.6 GB", async () => {
    const small = await w.serve(attackJob(bomb.modelHash as Hex, scalar(5)));
    expect(small.kind, JSON.stringify(small)).toBe("result");
    expect(decodeTensor(bytesOf(small.output as string | Uint8Array)).shape).toEqual([5]);
  });

  it("a memory bomb is killed at the cap with one generic signed rejection; the worker serves the next honest job, and the model gets a fresh process", async () => {
    const rssBefore = process.memoryUsage().rss;
    const reply = await w.serve(attackJob(bomb.modelHash as Hex, scalar(4e8)), 30_000);
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.InferenceFailed);
    expect(reply.code).toBe("MODEL_RESOURCE_LIMIT");
    expect(reply.message).toBe(GENERIC);
    // The worker's own process never held the bomb.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 2 ** 20);

    const honest = await w.serve(attackJob(CLS_HASH, textLineTensor("still serving")));
    expect(honest.kind, JSON.stringify(honest)).toBe("result");
    const again = await w.serve(attackJob(bomb.modelHash as Hex, scalar(3)));
    expect(again.kind, JSON.stringify(again)).toBe("result");
    expect(decodeTensor(bytesOf(again.output as string | Uint8Array)).shape).toEqual([3]);
  });

  it("a model that runs too long is stopped at the run limit; other models keep being served meanwhile", async () => {
    const started = Date.now();
    const endlessJob = attackJob(endless.modelHash as Hex, scalar(1));
    const pending = w.serve(endlessJob, 30_000);
    // While the endless model holds its own process, an honest job on another model is answered.
    const meanwhile = await w.serve(attackJob(CLS_HASH, textLineTensor("while the endless model runs")));
    expect(meanwhile.kind, JSON.stringify(meanwhile)).toBe("result");
    expect(w.published.some((m) => (m as { requestId?: string }).requestId === endlessJob.requestId)).toBe(false);
    const reply = await pending;
    const elapsed = Date.now() - started;
    expect(reply.kind, JSON.stringify(reply)).toBe("rejection");
    expect(reply.code).toBe("MODEL_RESOURCE_LIMIT");
    expect(reply.message).toBe(GENERIC);
    expect(elapsed).toBeGreaterThanOrEqual(RUN_TIMEOUT_MS);
    // The limit plus opening the model and slack for a loaded 2-core host.
    expect(elapsed).toBeLessThan(RUN_TIMEOUT_MS + 8_000);
    const honest = await w.serve(attackJob(CLS_HASH, textLineTensor("after the endless model")));
    expect(honest.kind, JSON.stringify(honest)).toBe("result");
    // Both kills so far are counted by reason: the bomb's (memory) and this one (timeout).
    const kills = await w.worker.metrics.registry.getSingleMetricAsString("oracle_worker_model_process_kills_total");
    expect(kills).toMatch(/reason="memory"[^}]*\} 1\n/);
    expect(kills).toMatch(/reason="timeout"[^}]*\} 1\n/);
  });

  it("a model's process sees none of the worker's environment (secrets live there)", async () => {
    process.env.WORKER_SIGNER_KEY_PROBE = "0xdeadbeef-not-for-models";
    const session = await ProcessSession.create(CLS_PATH, { executionProviders: ["cpu"] }, { memoryBytes: 512 * 2 ** 20, runTimeoutMs: 10_000, loadTimeoutMs: 30_000 });
    try {
      const environ = readFileSync(`/proc/${session.pid}/environ`, "latin1");
      expect(environ).toContain("ORACLE_ORT_PATH=");
      expect(environ).not.toContain("deadbeef-not-for-models");
      // Node adds its IPC channel's own two variables.
      expect(environ.split("\0").filter((e) => e !== "").map((e) => e.split("=")[0]).sort()).toEqual(["NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "ORACLE_ORT_PATH", "PATH"]);
    } finally {
      delete process.env.WORKER_SIGNER_KEY_PROBE;
      await session.release();
      await session.release(); // safe twice
    }
    expect(session.alive).toBe(false);
  });

  it("a model process outlives no worker: when the worker dies mid-run, the endless model's process is gone soon after (its guard thread polls every 250 ms)", async () => {
    // A worker (a separate node process) opens the endless model with no limits, starts a run, and dies.
    const dir = join(process.cwd(), ".data", `orphan-${randomBytes(6).toString("hex")}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, "endless.onnx"), endlessLoop());
      writeFileSync(
        join(dir, "worker.mts"),
        `import ort from "onnxruntime-node";
import { ProcessSession } from ${JSON.stringify(join(process.cwd(), "worker/model-process.ts"))};
const s = await ProcessSession.create(${JSON.stringify(join(dir, "endless.onnx"))}, { executionProviders: ["cpu"] }, { memoryBytes: 0, runTimeoutMs: 0, loadTimeoutMs: 0 });
void s.run({ x: new ort.Tensor("float32", Float32Array.of(1), [1]) });
console.log("child " + s.pid);
setTimeout(() => process.kill(process.pid, "SIGKILL"), 300);
`,
      );
      const worker = spawn("node_modules/.bin/node", ["--import", "tsx", join(dir, "worker.mts")], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      worker.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => worker.on("exit", () => resolve()));
      const pid = Number(/child (\d+)/.exec(out)?.[1]);
      expect(pid).toBeGreaterThan(0);
      const deadline = Date.now() + 3_000;
      while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const alive = existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, "latin1"));
      if (alive) process.kill(pid, "SIGKILL");
      expect(alive).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
