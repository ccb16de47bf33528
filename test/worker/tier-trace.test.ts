/**
 * Tracing follows the tier (issue 14, "Honest limits"): a NONE job never reaches the trace hook. The v1
 * worker traced every job, NONE included (a NONE request on PP-OCR det at 640² took 26.8 s and published
 * ~0.7 GB of trace); result format v2 signs no trace root and builds the canonical trace only when a
 * dispute asks for it (worker/trace.ts). The one code path that still runs per result is the output hook
 * (fault injection: scripts/fault-injection.ts GameCheater, which alters every OPTIMISTIC output it sees),
 * and the worker calls it for OPTIMISTIC jobs only. So: on the same worker, with the cheater installed,
 * a NONE job's signed output is onnxruntime's own and the cheater saw nothing; an OPTIMISTIC job on the
 * same input is altered, which shows the hook was installed and live.
 */
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUEUES, ResultBatchMessageSchema, Tier, bytesOf, decodeTensor, type Job, type Tensor } from "../../protocol/index.js";
import { InProcessQueue, type Json } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { GameCheater } from "../../scripts/fault-injection.js";
import { CHAIN_ID, CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_PATH, CLS_URI, ORACLE, SIGNER_KEY, silentLogger, tempDir, waitFor } from "./fixtures.js";
import { attackJob } from "../attacks/harness.js";

type Reply = { requestId: string; output: string; outputHash: string; timings: Record<string, number> };

describe("worker: tracing follows the tier", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let queue: InProcessQueue;
  let worker: Worker;
  const cheater = new GameCheater();
  const replies: Reply[] = [];

  beforeAll(async () => {
    tmp = await tempDir();
    queue = new InProcessQueue();
    worker = new Worker({
      queue,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      logger: silentLogger(),
      traceBuilder: cheater,
      config: { signerKey: SIGNER_KEY, allowedOracles: [{ chainId: CHAIN_ID, oracle: ORACLE }], modelCacheDir: `${tmp.dir}/models`, modelSchemes: ["npm"], inferenceThread: false },
    });
    await queue.consume<Json>(QUEUES.results, async (d) => {
      const b = ResultBatchMessageSchema.parse(d.body);
      for (const item of b.items) replies.push(item as unknown as Reply);
    });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await tmp?.cleanup();
  });

  const job = (input: Tensor, tier: Tier): Job => ({ ...attackJob(CLS_HASH, input), tier });

  async function serve(j: Job): Promise<Float32Array> {
    await queue.publish(QUEUES.jobs, j as unknown as Json);
    const reply = await waitFor(() => replies.find((r) => r.requestId === j.requestId), 30_000, "the worker's result");
    return decodeTensor(bytesOf(reply.output)).data as Float32Array;
  }

  it("test_noneJob_neverReachesTheTraceHook_optimisticJobDoes", async () => {
    const input = textLineTensor("Tracing follows the tier");
    const session = await ort.InferenceSession.create(CLS_PATH);
    const direct = Array.from((await session.run({ x: new ort.Tensor("float32", input.data as Float32Array, input.shape) }))["softmax_0.tmp_0"]!.data as Float32Array);
    await session.release();

    // NONE, twice: onnxruntime's output, signed as is; the hook never ran.
    for (let k = 0; k < 2; k++) {
      const none = job(input, Tier.NONE);
      expect(Array.from(await serve(none))).toEqual(direct);
      expect(cheater.faults).toEqual([]);
    }

    // OPTIMISTIC, same input, same worker: the hook ran once, on this job only, and its output is what was signed.
    const optimistic = job(input, Tier.OPTIMISTIC);
    const signed = Array.from(await serve(optimistic));
    expect(cheater.faults.map((f) => f.requestId)).toEqual([optimistic.requestId.toLowerCase()]);
    expect(signed).toEqual([...direct].reverse());
    expect(signed).not.toEqual(direct);
  }, 60_000);
});
