/**
 * One worker pipeline (bench/pipeline.ts: in-process queue, model process, dynamic batching, result batcher)
 * on one model, batch size and tier, run long enough to profile: prints the CPU per job of the worker's
 * process and of its model process, and jobs per second. Under `NODE_OPTIONS="--cpu-prof
 * --cpu-prof-dir=DIR"` both processes write a CPU profile (bench/profile-top.ts sums one by function).
 *
 *   npx tsx bench/profile-pipeline.ts [--model cls] [--batch 8] [--tier OPTIMISTIC] [--jobs 400] [--runs 5]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Tier, encodeTensor, hashEncoded, resolveNpmUri } from "../protocol/index.js";
import { sha256File } from "../worker/index.js";
import { BENCH_MODELS } from "./models.js";
import { makePipeline } from "./pipeline.js";
import { childrenCpuMs, median } from "./stats.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "cls" },
    batch: { type: "string", default: "8" },
    tier: { type: "string", default: "OPTIMISTIC" },
    jobs: { type: "string", default: "400" },
    runs: { type: "string", default: "5" },
  },
});
const m = BENCH_MODELS.find((x) => x.name === values.model);
if (m === undefined) throw new Error(`unknown model ${values.model}`);
const batch = Number(values.batch);
const jobs = Number(values.jobs);
const encoded = m.inputs(16).map((t) => encodeTensor(t));
const hashes = encoded.map((e) => hashEncoded(e));
const dir = mkdtempSync(join(tmpdir(), "profile-pipeline-"));
let runNo = 0;
const pipeline = await makePipeline({
  model: { uri: m.uri, modelHash: await sha256File(resolveNpmUri(m.uri)), input: m.inputSpec, output: m.outputSpec },
  tier: values.tier === "NONE" ? Tier.NONE : Tier.OPTIMISTIC,
  inferenceThread: true,
  inProcess: false,
  batch,
  threads: 1,
  prefetch: Math.max(4, 2 * batch),
  dir,
  blobStoreUrl: "http://127.0.0.1:9", // nothing is uploaded in the happy path
  inputOf: (i) => encoded[i % encoded.length]!,
  hashOf: (i) => hashes[i % hashes.length]!,
  nextRun: () => ++runNo,
});
await pipeline.run(4 * batch); // warm: model fetched and checked, session created, JIT
const rows: Array<{ perSecond: number; own: number; children: number }> = [];
for (let r = 0; r < Number(values.runs); r++) {
  const c0 = process.cpuUsage();
  const k0 = childrenCpuMs();
  const perSecond = await pipeline.run(jobs);
  const c = process.cpuUsage(c0);
  rows.push({ perSecond, own: (c.user + c.system) / 1000 / jobs, children: (childrenCpuMs() - k0) / jobs });
}
await pipeline.close();
rmSync(dir, { recursive: true, force: true });
const med = (k: keyof (typeof rows)[number]) => Math.round(median(rows.map((x) => x[k])) * 1000) / 1000;
console.log(`${m.name} batch ${batch} ${values.tier}: ${med("perSecond")} jobs/s; CPU ms/job worker process ${med("own")}, model process ${med("children")} (medians of ${rows.length} runs of ${jobs})`);
