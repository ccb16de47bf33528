/**
 * Issue 14 ("tracing follows the tier") and issue 13 finding 8: a worker with tracing on traced every
 * job, NONE ones too: a NONE request on PP-OCR det at 640² took 26.8 s and published ~0.7 GB of trace
 * that nothing could ever use (only OPTIMISTIC results are disputed). Any requester could make a worker
 * spend that for the cheapest tier. Now a NONE (or ZK) job never builds, hashes or uploads a trace and
 * signs the zero trace root; an OPTIMISTIC job on the same worker is still traced (the control).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Tier, decodeTensor, fromHex, type Hex } from "../../protocol/index.js";
import { sha256Hex } from "../../worker/index.js";
import { ifModel } from "./resource-models.js";
import { textLineTensor } from "../../examples/text-images.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI, loopbackServer, tempDir, type LoopbackServer } from "../worker/fixtures.js";
import { attackJob, attackWorker } from "./harness.js";

const ZERO_ROOT = `0x${"00".repeat(32)}`;
const MODELS = [{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }];

describe("attack: NONE-tier jobs that make a tracing worker build and upload traces", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it.each(["full", "checkpoint"] as const)("with trace: %s a NONE job builds and uploads no trace; an OPTIMISTIC job still does", async (trace) => {
    const store: LoopbackServer = await loopbackServer((_req, _body, res) => void res.writeHead(201).end());
    closers.push(() => store.close());
    const w = await attackWorker(MODELS, { modelSchemes: ["npm"], trace, blobStoreUrl: store.url });
    closers.push(() => w.close());

    const none = await w.serve({ ...attackJob(CLS_HASH, textLineTensor("cheap request")), tier: Tier.NONE });
    expect(none.kind, JSON.stringify(none)).toBe("result");
    expect(none.traceRoot).toBe(ZERO_ROOT);
    const timings = none.timings as Record<string, number>;
    expect(timings.traceRun).toBeUndefined();
    expect(timings.traceUpload).toBeUndefined();
    expect(store.requests).toHaveLength(0);

    // The control: the same worker traces a disputable (OPTIMISTIC) job and uploads its trace.
    const optimistic = await w.serve({ ...attackJob(CLS_HASH, textLineTensor("disputable request")), tier: Tier.OPTIMISTIC });
    expect(optimistic.kind, JSON.stringify(optimistic)).toBe("result");
    expect(optimistic.traceRoot).not.toBe(ZERO_ROOT);
    expect((optimistic.timings as Record<string, number>).traceRun).toBeGreaterThan(0);
    expect(store.requests.length).toBeGreaterThan(0);
  });

  it("a model with control flow (If), which no trace covers, is served in NONE by a tracing worker", async () => {
    const tmp = await tempDir();
    closers.push(tmp.cleanup);
    const bytes = ifModel();
    const file = join(tmp.dir, "if.onnx");
    writeFileSync(file, bytes);
    const spec = { dtype: "float32" as const, shape: [1] };
    const model = { modelHash: sha256Hex(bytes), uris: [file], input: spec, output: spec };
    const store: LoopbackServer = await loopbackServer((_req, _body, res) => void res.writeHead(201).end());
    closers.push(() => store.close());
    const w = await attackWorker([model], { modelSchemes: ["file"], trace: "full", blobStoreUrl: store.url });
    closers.push(() => w.close());
    const x = { dtype: "float32" as const, shape: [1], data: Float32Array.of(21) };
    const none = await w.serve({ ...attackJob(model.modelHash as Hex, x), tier: Tier.NONE });
    expect(none.kind, JSON.stringify(none)).toBe("result");
    expect(Array.from(decodeTensor(fromHex(none.output as Hex)).data as Float32Array)).toEqual([42]);
    expect(none.traceRoot).toBe(ZERO_ROOT);
    expect(store.requests).toHaveLength(0);
    // The same model asked for OPTIMISTIC is not served with a trace it cannot have.
    const optimistic = await w.serve({ ...attackJob(model.modelHash as Hex, x), tier: Tier.OPTIMISTIC });
    expect(optimistic.kind, JSON.stringify(optimistic)).toBe("rejection");
  });
});
