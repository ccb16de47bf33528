/**
 * Scale-out benchmark, everything through the real RabbitMQ broker:
 *
 *   workers:  jobs per second with 1, 2 and 4 worker PROCESSES (worker/main.ts, one ORT thread
 *             each) consuming one queue, on the PP-OCR text-direction classifier (inputs fetched
 *             by URI from a local HTTP server, as the relayer's blob store serves them); raw onnxruntime
 *             (one session in this process, back to back, 1 thread and ORT's default) measured in
 *             the same run as the baseline; medians over repeats, ratios to raw.
 *   relayer:  results per second one relayer takes off the results queue, checks (signature, stake,
 *             output hash) and lands on-chain in batches (in-process EDR chain, OPTIMISTIC tier).
 *   recovery: the fault suite (test/faults/faults.test.ts, its own broker node) run once; per
 *             fault kind, the time from the fault to the next result landing on-chain.
 *
 * The broker: RABBITMQ_URL, else a private node started (and stopped) by scripts/rabbitmq.sh on a
 * free port. Writes bench/results/scale.json and prints a table.
 *
 * Usage: tsx bench/scale.ts [--jobs 200] [--repeats 3] [--workers 1,2,4] [--results 256] [--faults 1]
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomUUID } from "node:crypto";
import { Wallet, ZeroAddress } from "ethers";
import { network } from "hardhat";
import * as ort from "onnxruntime-node";
import {
  QUEUES,
  Tier,
  createLogger,
  encodeTensor,
  hashEncoded,
  oracleDomain,
  resolveNpmUri,
  type Hex,
  type Job,
  type RequestId,
  signResultBatch,
} from "../protocol/index.js";
import { RabbitMqQueue, type Json } from "../queue/index.js";
import { Relayer } from "../relayer/index.js";
import { sha256File } from "../worker/index.js";
import { DEFAULT_PARAMS, REQUEST_FEE, deployOracle } from "../stack/local-stack.js";
import { TextDirectionDApp__factory } from "../types/ethers-contracts/index.js";
import { startBrokerNode, startService, type BrokerNode, type ServiceProcess } from "../test/faults/processes.js";
import { BENCH_MODELS } from "./models.js";
import { cpuPerJob, median, pidsWithCommandLine, r1, type RunCpu } from "./stats.js";

const ROOT = join(import.meta.dirname, "..");
const ORACLE = "0x00000000000000000000000000000000000000aa";
const CHAIN_ID = 31337n;
const r2 = (x: number) => Number(x.toFixed(2));

async function benchWorkers(url: string, counts: number[], jobs: number, repeats: number, brokerPids: () => number[]) {
  const m = BENCH_MODELS.find((x) => x.name === "cls")!;
  const modelPath = resolveNpmUri(m.uri);
  const modelHash = await sha256File(modelPath);
  const inputs = m.inputs(16).map((t) => encodeTensor(t));
  const hashes = inputs.map((e) => hashEncoded(e));

  // Raw onnxruntime, batch 1, back to back: the ceiling for one process.
  const raw = async (threads: number): Promise<number[]> => {
    const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all", ...(threads > 0 ? { intraOpNumThreads: threads } : {}) });
    const name = session.inputNames[0]!;
    const tensors = m.inputs(16).map((t) => new ort.Tensor(t.dtype, t.data as Float32Array, t.shape));
    const runs: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      const t0 = performance.now();
      for (let i = 0; i < jobs; i++) await session.run({ [name]: tensors[i % tensors.length]! });
      if (r > 0) runs.push((jobs / (performance.now() - t0)) * 1000); // run 0 warms up
    }
    await session.release();
    return runs;
  };
  const raw1 = await raw(1);
  const rawDefault = await raw(0);

  // Inputs are fetched by URI, as the relayer hands out any input over 16 KiB (a 110 KB tensor here):
  // a job message carries the hash and the URI, not the bytes.
  const server = createServer((req, res) => {
    const i = Number((req.url ?? "").split("/").pop());
    const bytes = inputs[i];
    if (bytes === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.byteLength }).end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const inputUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/inputs`;

  const dir = mkdtempSync(join(tmpdir(), "bench-scale-"));
  const cases: {
    workers: number;
    jobsPerSecond: { median: number; runs: number[] };
    ratioToRaw1Thread: number;
    stageMedianMs: Record<string, number>;
    /** Median CPU ms per job of each part, the machine's busy share during the runs, and the jobs/s that CPU allows on this machine's cores. */
    cpuMsPerJob: { workers: number; broker: number | undefined; bench: number };
    machineBusy: number;
    cpuBoundJobsPerSecond: number;
  }[] = [];
  for (const n of counts) {
    const ns = `bench-${randomUUID().slice(0, 8)}.`;
    const queue = await RabbitMqQueue.connect(url, { namespace: ns, connectionName: `${ns}bench` });
    const workers: ServiceProcess[] = [];
    for (let i = 0; i < n; i++) {
      workers.push(
        startService(`worker-${i}`, "worker/main.ts", {
          RABBITMQ_URL: url,
          RABBITMQ_NAMESPACE: ns,
          RABBITMQ_CONNECTION_NAME: `${ns}worker-${i}`,
          WORKER_SIGNER_KEY: Wallet.createRandom().privateKey,
          WORKER_ALLOWED_ORACLES: JSON.stringify([{ chainId: CHAIN_ID.toString(), oracle: ORACLE }]),
          WORKER_MODELS: JSON.stringify([{ modelHash, uris: [m.uri], input: m.inputSpec, output: m.outputSpec }]),
          WORKER_MODEL_CACHE_DIR: join(dir, `w${n}-${i}`),
          WORKER_INTRA_OP_NUM_THREADS: "1",
          WORKER_PREFETCH: "4",
          WORKER_MAX_INLINE_OUTPUT_BYTES: String(1 << 20),
          // The inputs' server is on loopback, which a worker refuses to fetch from unless allowed.
          WORKER_FETCH_ALLOWED_ADDRESSES: "127.0.0.0/8",
          WORKER_MODEL_SCHEMES: "http,https,file,npm", // opt in: the model is a local npm package's file
        }),
      );
    }
    let received = 0;
    let measuring = false;
    const stages = new Map<string, number[]>();
    let notify: (() => void) | undefined;
    let fail: ((error: Error) => void) | undefined;
    const sub = await queue.consume<Json>(
      QUEUES.results,
      async (d) => {
        const body = d.body as { kind: string; message?: string; items?: { timings?: Record<string, number> }[] };
        // A rejection ends the bench (thrown here it would only be dead-lettered and the run would wait forever).
        if (body.kind !== "batch") return void fail?.(new Error(`bench job rejected: ${JSON.stringify(body).slice(0, 300)}`));
        // One signed batch per flush of the worker's result batcher (docs/V2.md §3).
        for (const item of body.items ?? []) {
          if (measuring) {
            for (const [k, v] of Object.entries(item.timings ?? {})) {
              let list = stages.get(k);
              if (list === undefined) stages.set(k, (list = []));
              list.push(v);
            }
          }
          received++;
        }
        notify?.();
      },
      { prefetch: 500 },
    );
    let runNo = 0;
    const run = async (count: number): Promise<number> => {
      const r = ++runNo;
      const target = received + count;
      const done = new Promise<void>((resolve, reject) => {
        notify = () => received >= target && resolve();
        fail = reject;
      });
      const messages: Job[] = Array.from({ length: count }, (_, i) => ({
        kind: "job",
        chainId: CHAIN_ID.toString(),
        oracle: ORACLE,
        requestId: `0x${(r * 1_000_000 + i + 1).toString(16).padStart(64, "0")}`,
        modelHash,
        inputHash: hashes[i % hashes.length]!,
        input: "0x",
        inputURI: `${inputUrl}/${i % inputs.length}`,
        tier: Tier.OPTIMISTIC,
        deadline: Math.floor(Date.now() / 1000) + 3600,
        observedAt: Date.now(),
      }));
      const t0 = performance.now();
      await Promise.all(messages.map((msg) => queue.publish(QUEUES.jobs, msg as unknown as Json, { messageId: msg.requestId })));
      // A stalled run (a worker refusing every job, say) ends the bench with the workers' last words.
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${received - (target - count)} of ${count} results after 300 s; worker logs:\n${workers.map((w) => w.lines.slice(-5).join("\n")).join("\n")}`)), 300_000);
      });
      await Promise.race([done, stalled]).finally(() => clearTimeout(timer));
      return (count / (performance.now() - t0)) * 1000;
    };
    await Promise.all(workers.map((w) => w.waitForLog("worker ready", 120_000)));
    await run(Math.max(8, 4 * n)); // warm every worker: model fetch and session creation
    const runs: number[] = [];
    const cpu: RunCpu[] = [];
    const workerPids = workers.map((w) => w.child.pid!).filter((pid) => pid !== undefined);
    const broker = brokerPids();
    measuring = true;
    for (let r = 0; r < repeats; r++) {
      const measured = await cpuPerJob(jobs, workerPids, broker, () => run(jobs));
      runs.push(measured.value);
      cpu.push(measured.cpu);
    }
    measuring = false;
    await sub.cancel();
    for (const w of workers) w.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    await queue.close();
    const med = median(runs);
    const stageMedianMs = Object.fromEntries([...stages].map(([k, v]) => [k, r2(median(v))]));
    const brokerMs = cpu.every((c) => c.broker !== undefined) ? r2(median(cpu.map((c) => c.broker!))) : undefined;
    const cpuMsPerJob = { workers: r2(median(cpu.map((c) => c.workers))), broker: brokerMs, bench: r2(median(cpu.map((c) => c.bench))) };
    const perJob = cpuMsPerJob.workers + (brokerMs ?? 0) + cpuMsPerJob.bench;
    const machineBusy = r2(median(cpu.map((c) => c.machineBusy)));
    const cpuBoundJobsPerSecond = r1((cpus().length * 1000) / perJob);
    cases.push({ workers: n, jobsPerSecond: { median: r1(med), runs: runs.map(r1) }, ratioToRaw1Thread: r2(med / median(raw1)), stageMedianMs, cpuMsPerJob, machineBusy, cpuBoundJobsPerSecond });
    console.log(
      `workers ${n}: ${r1(med)} jobs/s (runs ${runs.map(r1).join(", ")}), ${r2(med / median(raw1))}x raw 1-thread; CPU ms/job workers ${cpuMsPerJob.workers}, broker ${brokerMs ?? "?"}, bench ${cpuMsPerJob.bench}; machine ${Math.round(machineBusy * 100)} % busy (${cpus().length} cores; CPU allows ~${cpuBoundJobsPerSecond} jobs/s); per-job stages (median ms) ${JSON.stringify(stageMedianMs)}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
  return {
    inputs: "fetched over HTTP by URI (as the relayer hands out inputs over 16 KiB), outputs inline",
    model: `${m.name} float32[1,3,48,192] (${m.uri})`,
    jobsPerRun: jobs,
    rawPerSecond: { oneThread: { median: r1(median(raw1)), runs: raw1.map(r1) }, ortDefaultThreads: { median: r1(median(rawDefault)), runs: rawDefault.map(r1) } },
    cases,
  };
}

async function benchRelayer(url: string, count: number, repeats: number) {
  const { ethers } = await network.create();
  const [admin, modelOwner, operator, relayerAccount, user, arbiter] = await ethers.getSigners();
  const { oracle, modelHash } = await deployOracle({ admin: admin!, modelOwner: modelOwner!, arbiter: arbiter! });
  const oracleAddress = await oracle.getAddress();
  const dapp = await new TextDirectionDApp__factory(user!).deploy(oracleAddress, modelHash, Tier.OPTIMISTIC, 200_000);
  const signer = Wallet.createRandom();
  await (await oracle.connect(operator!).registerWorker(signer.address, { value: DEFAULT_PARAMS.minStake + DEFAULT_PARAMS.resultBond * BigInt(count * repeats + 10) })).wait();
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const domain = oracleDomain(chainId, oracleAddress);
  const input = encodeTensor(BENCH_MODELS[0]!.inputs(1)[0]!);
  const inputHash = hashEncoded(input);
  const output = encodeTensor({ dtype: "float32", shape: [1, 2], data: new Float32Array([0.93, 0.07]) });
  const outputHash = hashEncoded(output);

  const ns = `bench-relayer-${randomUUID().slice(0, 8)}.`;
  const queue = await RabbitMqQueue.connect(url, { namespace: ns, connectionName: `${ns}relayer` });
  const producer = await RabbitMqQueue.connect(url, { namespace: ns, connectionName: `${ns}producer` });
  const dataDir = mkdtempSync(join(tmpdir(), "bench-relayer-"));
  const relayer = await Relayer.start({
    provider: ethers.provider,
    signer: relayerAccount!,
    oracleAddress,
    queue,
    logger: createLogger("bench", { level: "error" }),
    config: { dataDir, startBlock: await ethers.provider.getBlockNumber(), pollIntervalMs: 50, api: { port: 0 } },
  });
  const runs: number[] = [];
  const batches: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + 3600;
      const receipt = (await (await dapp.classify(inputHash, "http://127.0.0.1:1/unused", deadline, { value: REQUEST_FEE })).wait())!;
      const parsed = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested");
      ids.push(String(parsed!.args.requestId).toLowerCase());
    }
    // The relayer knows every request before the replies arrive (as when workers answer).
    const seen = async () => ids.every((id) => relayer.db.getRequest(id) !== undefined);
    while (!(await seen())) await new Promise((res) => setTimeout(res, 50));
    // Workers sign their results a batch at a time (docs/V2.md §3): here batches of up to 32.
    const replies = [];
    for (let at = 0; at < ids.length; at += 32) {
      const chunk = ids.slice(at, at + 32);
      const signed = await signResultBatch(signer, domain, chunk.map((id) => ({ requestId: id, outputHash })), ZeroAddress);
      replies.push({
        kind: "batch",
        chainId: chainId.toString(),
        oracle: oracleAddress,
        payee: ZeroAddress,
        signer: signer.address,
        signature: signed.signature,
        items: chunk.map((id) => ({ requestId: id, modelHash, inputHash, outputHash, output: `0x${output.toString("hex")}`, provider: "cpu", timings: {}, observedAt: Date.now() })),
      });
    }
    const txsBefore = relayer.transactions.length;
    const t0 = performance.now();
    await Promise.all(replies.map((m) => producer.publish(QUEUES.results, m as unknown as Json, { messageId: `batch:${m.signature.slice(0, 66)}` })));
    while (!ids.every((id) => relayer.db.getRequest(id)?.state === "submitted")) await new Promise((res) => setTimeout(res, 20));
    const seconds = (performance.now() - t0) / 1000;
    runs.push(count / seconds);
    const txs = relayer.transactions.slice(txsBefore).filter((t) => t.label === "submitBatch");
    batches.push(...txs.map((t) => t.items));
    console.log(`relayer: ${count} results landed in ${seconds.toFixed(2)} s = ${r1(count / seconds)}/s (${txs.length} submitBatch transactions)`);
  }
  await relayer.close();
  await queue.close();
  await producer.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    resultsPerRun: count,
    maxBatchSize: relayer.config.maxBatchSize,
    resultsPerSecond: { median: r1(median(runs)), runs: runs.map(r1) },
    meanItemsPerTransaction: r1(batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length)),
    note: "reply taken off the queue -> schema, domain, signature and stake checks, output hash -> sqlite -> submitBatch (one worker-signed batch) -> receipt (EDR in-process, automine), until the watcher has recorded every accepted result (ResultBatchSubmitted records)",
  };
}

function runFaultSuite(requests: number): Promise<Record<string, unknown> | undefined> {
  const file = join(tmpdir(), `fault-summary-${randomUUID()}.json`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "test/faults/faults.test.ts"], {
      cwd: ROOT,
      env: { ...process.env, FAULT_REQUESTS: String(requests), FAULT_SUMMARY_FILE: file },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const keep = (b: Buffer) => (tail = (tail + b.toString()).slice(-4000));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("exit", (code) => {
      try {
        const summary = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
        rmSync(file, { force: true });
        resolve(summary);
      } catch {
        console.error(`fault suite failed (exit ${code}):\n${tail}`);
        resolve(undefined);
      }
    });
  });
}

function recoveryByKind(summary: Record<string, unknown>) {
  const list = summary.recovery as { kind: string; restartMs?: number; recoveryMs: number | string }[];
  const out: Record<string, { injected: number; recoveryMs: { median: number; runs: number[] }; restartMs?: number }> = {};
  for (const kind of [...new Set(list.map((f) => f.kind))]) {
    const of = list.filter((f) => f.kind === kind);
    const next = of.map((f) => f.recoveryMs).filter((x): x is number => typeof x === "number");
    const restarts = of.map((f) => f.restartMs).filter((x): x is number => typeof x === "number");
    out[kind] = { injected: of.length, recoveryMs: { median: Math.round(median(next)), runs: next }, ...(restarts.length > 0 ? { restartMs: Math.round(median(restarts)) } : {}) };
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== "--"),
    options: {
      jobs: { type: "string", default: "200" },
      repeats: { type: "string", default: "3" },
      workers: { type: "string", default: "1,2,4" },
      results: { type: "string", default: "256" },
      faults: { type: "string", default: "1" },
      "fault-requests": { type: "string", default: "40" },
    },
  });
  let broker: BrokerNode | undefined;
  let url = process.env.RABBITMQ_URL;
  if (url === undefined || url === "") {
    broker = await startBrokerNode(`bench-${process.pid}`);
    url = broker.url;
  }
  try {
    // The private node's Erlang VM runs with its state folder (.data/rabbitmq-bench-<pid>) as its home.
    const home = broker === undefined ? undefined : `rabbitmq-bench-${process.pid}`;
    const brokerPids = () => (home === undefined ? [] : pidsWithCommandLine(home).filter((pid) => pid !== process.pid));
    const workers = await benchWorkers(url, values.workers.split(",").map(Number), Number(values.jobs), Number(values.repeats), brokerPids);
    const relayer = await benchRelayer(url, Number(values.results), Number(values.repeats));
    let recovery: Record<string, unknown> | undefined;
    if (values.faults !== "0") {
      console.log(`running the fault suite (${values["fault-requests"]} requests) for recovery times...`);
      const summary = await runFaultSuite(Number(values["fault-requests"]));
      if (summary !== undefined) {
        recovery = { requests: summary.requests, faults: summary.faults, byKind: recoveryByKind(summary) };
        console.log(`recovery: ${JSON.stringify(recovery.byKind)}`);
      }
    }
    const out = {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), Node ${process.version}, onnxruntime-node CPU, RabbitMQ ${broker === undefined ? "from RABBITMQ_URL" : "private node (scripts/rabbitmq.sh)"}; load average at start ${loadStart.map((x) => x.toFixed(1)).join(" ")}`,
      command: `tsx bench/scale.ts ${process.argv.slice(2).join(" ")}`.trim(),
      workers,
      relayer,
      recovery,
    };
    mkdirSync(join(ROOT, "bench/results"), { recursive: true });
    writeFileSync(join(ROOT, "bench/results/scale.json"), `${JSON.stringify(out, null, 2)}\n`);
    console.log("\n| workers (processes) | jobs/s (median) | x raw ORT, 1 thread | CPU ms/job workers / broker / bench | machine busy | jobs/s the CPU allows |");
    console.log("|---|---|---|---|---|---|");
    for (const c of workers.cases) {
      console.log(`| ${c.workers} | ${c.jobsPerSecond.median} | ${c.ratioToRaw1Thread} | ${c.cpuMsPerJob.workers} / ${c.cpuMsPerJob.broker ?? "?"} / ${c.cpuMsPerJob.bench} | ${Math.round(c.machineBusy * 100)} % | ${c.cpuBoundJobsPerSecond} |`);
    }
    console.log(`raw onnxruntime in this run: ${workers.rawPerSecond.oneThread.median}/s (1 thread), ${workers.rawPerSecond.ortDefaultThreads.median}/s (ORT default threads)`);
    console.log(`relayer: ${relayer.resultsPerSecond.median} results/s landed (mean ${relayer.meanItemsPerTransaction} per transaction)`);
  } finally {
    await broker?.remove();
  }
  process.exit(0);
}

const loadStart = loadavg();

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
