/**
 * A worker whose stake drops below what backs a result while it runs (here: its operator unbonds
 * everything) notices on the real chain, warns with the `oracle stake` command that fixes it, fails
 * /readyz, reports oracle_worker_stake_can_back 0, and passes its jobs on instead of signing results the
 * oracle would drop; once the stake is back, it says so and the job it kept passing on is served.
 */
import { Wallet, parseEther } from "ethers";
import { network } from "hardhat";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QUEUES,
  encodeTensor,
  hashEncoded,
  bytesToHex,
  type Job,
  type Logger,
  type BatchItem,
  type ResultBatchMessage,
  startMetricsServer,
  WorkerMetrics,
  type MetricsServer,
} from "../../protocol/index.js";
import { InProcessQueue } from "../../queue/index.js";
import { StaticCatalog, Worker } from "../../worker/index.js";
import { StakeWatch } from "../../worker/stake-watch.js";
import { deployOracle } from "../../stack/local-stack.js";
import { textLineTensor } from "../../examples/text-images.js";
import type { InferenceOracle } from "../../types/ethers-contracts/index.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI, randomHash, tempDir, waitFor } from "./fixtures.js";

describe("a worker whose stake drops while it runs", () => {
  const logs: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) }) as unknown as Logger;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let oracle: InferenceOracle;
  let oracleAddress: string;
  let chainId: bigint;
  let operator: Awaited<ReturnType<Awaited<ReturnType<typeof network.create>>["ethers"]["getSigners"]>>[number];
  let watch: StakeWatch;
  let metrics: WorkerMetrics;
  let server: MetricsServer;
  let queue: InProcessQueue;
  let worker: Worker;
  // Every item of every signed result batch the worker published.
  const results: BatchItem[] = [];
  const key = Wallet.createRandom();

  beforeAll(async () => {
    tmp = await tempDir();
    const { ethers } = await network.create();
    const [admin, modelOwner, arbiter, op] = await ethers.getSigners();
    operator = op!;
    ({ oracle } = await deployOracle({ admin: admin!, modelOwner: modelOwner!, arbiter: arbiter! }));
    oracleAddress = await oracle.getAddress();
    chainId = (await ethers.provider.getNetwork()).chainId;
    const params = await oracle.params();
    await (await oracle.connect(operator).registerWorker(key.address, { value: params.minStake + params.resultBond })).wait();

    metrics = new WorkerMetrics();
    // Polled by hand below (check()), so each step is read when the test says.
    watch = new StakeWatch({ provider: ethers.provider, signer: key.address, oracles: [{ chainId, oracle: oracleAddress }], logger, registry: metrics.registry, pollMs: 3_600_000 });
    await watch.start();
    server = await startMetricsServer({ registry: metrics.registry, port: 0, readiness: { stake: () => watch.readiness() } });
    queue = new InProcessQueue();
    await queue.consume<ResultBatchMessage>(QUEUES.results, async (d) => void results.push(...(d.body.kind === "batch" ? d.body.items : [])));
    worker = new Worker({
      queue,
      logger,
      metrics,
      standing: watch,
      catalog: new StaticCatalog([{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }]),
      config: { signerKey: key.privateKey, allowedOracles: [{ chainId, oracle: oracleAddress }], modelCacheDir: `${tmp.dir}/models`, modelSchemes: ["npm"] },
    });
    await worker.start();
  }, 120_000);

  afterAll(async () => {
    watch?.close();
    await worker?.close();
    await queue?.close();
    await server?.close();
    await tmp?.cleanup();
  });

  const job = (): Job => {
    const bytes = encodeTensor(textLineTensor("Stake first"));
    return {
      kind: "job", chainId: chainId.toString(), oracle: oracleAddress, requestId: randomHash(), modelHash: CLS_HASH, inputHash: hashEncoded(bytes),
      input: bytesToHex(bytes), inputURI: "", tier: 1, deadline: Math.floor(Date.now() / 1000) + 3600, observedAt: Date.now(),
    };
  };
  const readyz = async () => {
    const res = await fetch(`${server.url}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  const gauge = async (name: string) => {
    const line = (await metrics.registry.metrics()).split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`oracle="${oracleAddress}"`));
    return line === undefined ? undefined : Number(line.split(" ").pop());
  };
  const passedOn = async () => Number(/oracle_worker_jobs_total\{outcome="passed_on"[^}]*\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? 0);

  it("staked: it serves an OPTIMISTIC job and /readyz passes", async () => {
    expect(watch.canBack(chainId, oracleAddress)).toBe(true);
    expect(await gauge("oracle_worker_stake_can_back")).toBe(1);
    expect((await readyz()).status).toBe(200);
    const j = job();
    await queue.publish(QUEUES.jobs, j as never);
    await waitFor(() => results.find((r) => r.requestId === j.requestId), 60_000, "the result");
  }, 90_000);

  it("unbonded below the minimum: it warns with the fix, fails /readyz, reports 0 and passes jobs on; staked again, it serves them", async () => {
    const stake = (await oracle.getWorker(operator.address)).stake;
    await (await oracle.connect(operator).requestUnbond(stake)).wait();
    await watch.check();

    expect(watch.canBack(chainId, oracleAddress)).toBe(false);
    const warning = logs.find((l) => l.level === 40 && l.msg.startsWith("stake too low"));
    expect(warning?.msg).toContain(`signing key ${key.address} (operator ${operator.address}) has 0.0 ETH active stake`);
    expect(warning?.msg).toContain("below the minimum");
    expect(warning?.msg).toMatch(/oracle stake [0-9.]+ --key <operator key>/);
    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.body).toContain("below the minimum");
    expect(await gauge("oracle_worker_stake_can_back")).toBe(0);
    expect(await gauge("oracle_worker_stake_active_wei")).toBe(0);

    // A job now is not signed: it goes back to the queue for another worker, again and again.
    const before = await passedOn();
    const j = job();
    await queue.publish(QUEUES.jobs, j as never);
    await waitFor(async () => ((await passedOn()) >= before + 2 ? true : undefined), 10_000, "the job to be passed on twice");
    expect(results.find((r) => r.requestId === j.requestId)).toBeUndefined();

    // The operator adds stake: the next reading says so, and the circling job is served.
    const params = await oracle.params();
    await (await oracle.connect(operator).addStake({ value: params.minStake + params.resultBond })).wait();
    await watch.check();
    expect(watch.canBack(chainId, oracleAddress)).toBe(true);
    expect(logs.some((l) => l.level === 30 && l.msg === "stake is back: taking jobs again")).toBe(true);
    expect((await readyz()).status).toBe(200);
    expect(await gauge("oracle_worker_stake_can_back")).toBe(1);
    await waitFor(() => results.find((r) => r.requestId === j.requestId), 60_000, "the passed-on job's result");
  }, 120_000);
});
