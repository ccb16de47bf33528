/**
 * Crash and fault tests: the oracle as separate processes (a chain served over JSON-RPC, a RabbitMQ
 * broker, three worker processes, a relayer process reaching the chain through a fault proxy) while
 * requests flow and, one after another:
 *   - a worker is SIGKILLed (jobs it held are redelivered) and a replacement is started;
 *   - the relayer is SIGKILLed mid-batch and restarted on the same data dir and API port;
 *   - the broker closes every connection of this test (all parties reconnect);
 *   - the whole broker node is stopped and started again (the test's own node, so no other test
 *     file sharing the run's broker is disturbed; queues and persistent messages survive it);
 *   - the relayer's RPC node is unreachable for a while (every call answered 503);
 *   - throughout, the relayer's RPC calls fail (503, dropped before or after reaching the node) or lag.
 * At the end, read from the chain itself: every request was fulfilled or refunded exactly once, and
 * the oracle's balance equals stakes + escrowed fees of open requests + pull balances.
 *
 * `npm test` runs FAULT_REQUESTS=40; `npm run test:faults` runs 1000. FAULT_SEED replays the RPC
 * fault sequence; FAULT_DEBUG=1 prints the broker's queues on a stall and the services' warnings.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Wallet, parseEther, type JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonRpcServer } from "hardhat/types/network";
import { encodeTensor, submittedFromLogs, RESULT_BATCH_TOPIC, type Hex } from "../../protocol/index.js";
import { textLineTensor } from "../../examples/text-images.js";
import { DEFAULT_PARAMS, REQUEST_FEE } from "../../stack/local-stack.js";
import type { InferenceOracle, TextDirectionDApp } from "../../types/ethers-contracts/index.js";
import { startRpcFaultProxy, type RpcFaultProxy } from "./rpc-proxy.js";
import { freePort, servedChain, startBrokerNode, startService, type BrokerNode, type ServiceProcess } from "./processes.js";

const REQUESTS = Number(process.env.FAULT_REQUESTS ?? 40);
const SEED = Number(process.env.FAULT_SEED ?? 7);
const WORKERS = 3;
const RPC_OUTAGE_MS = 3_000;
/** Pause between requests: long enough that faults land while requests are still flowing. */
const PACE_MS = Number(process.env.FAULT_PACE_MS ?? (REQUESTS <= 100 ? 200 : 40));

enum Status {
  None,
  Requested,
  Submitted,
  Challenged,
  Fulfilled,
  Refunded,
}

type FaultKind = "worker-kill" | "relayer-kill" | "broker-drop" | "broker-restart" | "rpc-outage";

interface FaultRecord {
  kind: FaultKind;
  at: number;
  /** Time until the killed process's replacement was serving (worker: "worker ready"; relayer: "relayer ready"; broker: answering again). */
  restartMs?: number;
  /** When the fault had taken effect (the process had exited, the broker was down, the RPC failing). */
  effectAt?: number;
  /** Time from the fault to the next result submitted on-chain (undefined: none within 90 s). */
  nextSubmissionMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe(`faults: ${REQUESTS} requests through worker, relayer and broker crashes and a faulty RPC`, () => {
  const tag = `faults-${randomUUID().slice(0, 8)}`;
  const vhost = tag;
  const dataDir = mkdtempSync(join(tmpdir(), "oracle-faults-"));
  let chainServer: JsonRpcServer;
  let provider: JsonRpcProvider;
  let proxy: RpcFaultProxy;
  let oracle: InferenceOracle;
  let dapp: TextDirectionDApp;
  let oracleAddress: string;
  let registryAddress: string;
  let chainId: bigint;
  let deployBlock: number;
  let apiPort: number;
  let relayerKey: string;
  let vhostUrl: string;
  const workerKeys: string[] = [];
  const operators: string[] = [];
  let relayer: ServiceProcess | undefined;
  const workers: (ServiceProcess | undefined)[] = [];
  const faults: FaultRecord[] = [];
  let broker: BrokerNode;
  const rabbitmqctlAsync = (...args: string[]) => broker.ctl(...args);

  const relayerEnv = (): Record<string, string> => ({
    RPC_URL: proxy.url,
    CHAIN_ID: chainId.toString(),
    RPC_POLL_MS: "50",
    RELAYER_KEY: relayerKey,
    ORACLE_ADDRESS: oracleAddress,
    RABBITMQ_URL: vhostUrl,
    RABBITMQ_NAMESPACE: `${tag}.`,
    RABBITMQ_CONNECTION_NAME: `${tag}-relayer`,
    RELAYER_DATA_DIR: join(dataDir, "relayer"),
    RELAYER_START_BLOCK: String(deployBlock),
    RELAYER_POLL_INTERVAL_MS: "100",
    RELAYER_TX_RETRIES: "6",
    RELAYER_API: JSON.stringify({ port: apiPort }),
  });

  const workerEnv = (i: number): Record<string, string> => ({
    RABBITMQ_URL: vhostUrl,
    RABBITMQ_NAMESPACE: `${tag}.`,
    RABBITMQ_CONNECTION_NAME: `${tag}-worker-${i}`,
    RPC_URL: chainUrl,
    REGISTRY_ADDRESS: registryAddress,
    WORKER_SIGNER_KEY: workerKeys[i]!,
    WORKER_ALLOWED_ORACLES: JSON.stringify([{ chainId: chainId.toString(), oracle: oracleAddress }]),
    WORKER_MODEL_CACHE_DIR: join(dataDir, `worker-${i}`, "models"),
    WORKER_INTRA_OP_NUM_THREADS: "1",
    WORKER_PREFETCH: "2",
    WORKER_MODEL_SCHEMES: "http,https,file,npm", // opt in: the local stack's models are npm:/file: URIs
    WORKER_FETCH_ALLOWED_ADDRESSES: "127.0.0.0/8,::1", // opt in: loopback input hosts
    WORKER_BLOB_STORE_URL: `http://127.0.0.1:${apiPort}`,
  });
  let chainUrl: string;

  const startRelayer = async (): Promise<number> => {
    const t = Date.now();
    relayer = startService("relayer", "relayer/main.ts", relayerEnv());
    await relayer.waitForLog("relayer ready", 100_000);
    return Date.now() - t;
  };
  const startWorker = async (i: number): Promise<number> => {
    const t = Date.now();
    const w = startService(`worker-${i}`, "worker/main.ts", workerEnv(i));
    workers[i] = w;
    await w.waitForLog("worker ready", 100_000);
    return Date.now() - t;
  };

  beforeAll(async () => {
    // The broker: a node of this test's own (it is restarted mid-run), and a vhost on it.
    broker = await startBrokerNode(`faults-${process.pid}`);
    await rabbitmqctlAsync("add_vhost", vhost);
    await rabbitmqctlAsync("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
    vhostUrl = `${broker.url}/${encodeURIComponent(vhost)}`;

    // The chain, served over JSON-RPC on a random loopback port (Hardhat's EDR).
    const chain = await servedChain();
    ({ server: chainServer, url: chainUrl, provider, chainId, deployBlock, oracle, oracleAddress, registryAddress, dapp } = chain);
    const { signer, admin } = chain;

    // The relayer pays from a key of its own (its process signs locally, as in production).
    const relayerWallet = Wallet.createRandom();
    relayerKey = relayerWallet.privateKey;
    await (await admin.sendTransaction({ to: relayerWallet.address, value: parseEther("100") })).wait();
    for (let i = 0; i < WORKERS; i++) {
      const key = Wallet.createRandom();
      workerKeys.push(key.privateKey);
      const op = await signer(6 + i);
      operators.push(await op.getAddress());
      // Each OPTIMISTIC result locks resultBond until its window closes: stake for every request
      // (with 5 ETH each, three workers could hold only 150 open results and the rest were skipped).
      const stake = DEFAULT_PARAMS.minStake + DEFAULT_PARAMS.resultBond * BigInt(REQUESTS + 10);
      await (await oracle.connect(op).registerWorker(key.address, { value: stake })).wait();
    }

    proxy = await startRpcFaultProxy(chainUrl, { seed: SEED });
    apiPort = await freePort();
    await Promise.all([startRelayer(), ...Array.from({ length: WORKERS }, (_, i) => startWorker(i))]);
  });

  afterAll(async () => {
    const procs = [relayer, ...workers].filter((p): p is ServiceProcess => p !== undefined);
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await proxy?.close();
    await chainServer?.close();
    provider?.destroy();
    await broker?.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("every request is fulfilled or refunded exactly once, and funds are conserved", async () => {
    const started = Date.now();
    const inputs: { hash: Hex; uri: string }[] = [];
    for (const [text, rotated] of [["fault tolerant", false], ["upside down", true], ["crash and restart", false], ["broker gone", true]] as const) {
      const res = await fetch(`http://127.0.0.1:${apiPort}/blobs`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(encodeTensor(textLineTensor(text, { rotated }))) });
      expect(res.status).toBe(201);
      inputs.push((await res.json()) as { hash: Hex; uri: string });
    }

    // RPC faults on every relayer call from now on.
    const rpcMix = { http503: 0.04, dropBefore: 0.03, dropAfter: 0.03, delay: 0.1, delayMs: 300 };
    proxy.set(rpcMix);

    // Recovery: once a fault has taken effect a probe request is sent (from an account of its own);
    // the time until the probe's result lands on-chain is what the fault cost a new request.
    // (Waiting for "the next submission" measured nothing when a fault came after the last request.)
    const prober = await provider.getSigner(9);
    const ids: string[] = [];
    let probes = 0;
    const measureProbe = async (record: FaultRecord) => {
      const input = inputs[probes++ % inputs.length]!;
      const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
      const receipt = (await (await dapp.connect(prober).classify(input.hash, input.uri, deadline, { value: REQUEST_FEE })).wait())!;
      const id = String(receipt.logs.map((l) => oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId).toLowerCase();
      ids.push(id);
      const from = record.effectAt ?? record.at;
      const end = from + 90_000;
      while (Date.now() < end) {
        if (Number(await oracle.state(id)) !== Status.Requested) {
          record.nextSubmissionMs = Date.now() - from;
          return;
        }
        await sleep(50);
      }
    };

    const kinds: FaultKind[] = ["worker-kill", "relayer-kill", "broker-drop", "broker-restart", "rpc-outage"];
    const injectFault = async (n: number): Promise<void> => {
      const kind = kinds[n % kinds.length]!;
      const record: FaultRecord = { kind, at: Date.now() };
      faults.push(record);
      // The probe request goes out once the fault has taken effect (process dead, broker down, RPC down).
      let progress: Promise<void> = Promise.resolve();
      const inEffect = () => {
        record.effectAt = Date.now();
        progress = measureProbe(record);
      };
      if (kind === "worker-kill") {
        const i = Math.floor(n / kinds.length) % WORKERS;
        workers[i]!.kill("SIGKILL");
        await workers[i]!.exited;
        inEffect();
        await startWorker(i);
        record.restartMs = Date.now() - record.at;
      } else if (kind === "relayer-kill") {
        relayer!.kill("SIGKILL");
        await relayer!.exited;
        inEffect();
        await sleep(300); // requests keep arriving while it is down
        await startRelayer();
        record.restartMs = Date.now() - record.at;
      } else if (kind === "rpc-outage") {
        // The RPC node answers nothing but 503 for a while, then comes back (with the usual fault mix).
        proxy.set({ ...rpcMix, http503: 1 });
        inEffect();
        await sleep(RPC_OUTAGE_MS);
        proxy.set(rpcMix);
        record.restartMs = Date.now() - record.at;
      } else if (kind === "broker-restart") {
        // The whole node goes down and comes back; every party reconnects on its own.
        await broker.stop();
        inEffect();
        await sleep(500);
        await broker.start();
        record.restartMs = Date.now() - record.at;
      } else {
        await rabbitmqctlAsync("close_all_connections", "-p", vhost, "fault test: broker connection drop");
        inEffect();
      }
      await progress;
    };

    // Requests flow; every `faultEvery` requests the next fault starts (one fault at a time).
    const faultEvery = Math.max(8, Math.floor(REQUESTS / 12));
    let faultChain: Promise<void> = Promise.resolve();
    const faultErrors: unknown[] = [];
    let faultN = 0;
    let faultBusy = false;
    for (let k = 0; k < REQUESTS; k++) {
      const input = inputs[k % inputs.length]!;
      const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
      const receipt = (await (await dapp.classify(input.hash, input.uri, deadline, { value: REQUEST_FEE })).wait())!;
      const log = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested");
      ids.push(String(log!.args.requestId).toLowerCase());
      if (k > 0 && k % faultEvery === 0 && !faultBusy) {
        faultBusy = true;
        const n = faultN++;
        faultChain = faultChain.then(() => injectFault(n)).catch((e: unknown) => void faultErrors.push(e)).finally(() => (faultBusy = false));
      }
      await sleep(PACE_MS);
    }
    // At least one fault of every kind, even in a short run.
    await faultChain;
    while (faultN < kinds.length) await injectFault(faultN++).catch((e: unknown) => void faultErrors.push(e));
    expect(faultErrors, String(faultErrors)).toEqual([]);

    const statusOf = async (id: string): Promise<Status> => Number(await oracle.state(id)) as Status;
    const statuses = async () => Promise.all(ids.map(statusOf));
    // Results arrive (or the job died and the request waits for its deadline).
    await waitUntil(async () => (await statuses()).every((s) => s !== Status.Requested), Math.max(60_000, REQUESTS * 200), "every request answered").catch(async () => {
      if (process.env.FAULT_DEBUG) {
        console.log(`stalled; queues:\n${await rabbitmqctlAsync("list_queues", "-p", vhost, "name", "messages_ready", "messages_unacknowledged", "consumers").catch((e: Error) => e.message)}`);
        console.log(`connections:\n${await rabbitmqctlAsync("list_connections", "-p", vhost, "name", "state", "channels").catch((e: Error) => e.message)}`);
      }
    });
    const answeredAt = Date.now();
    const beforeDeadline = await statuses();

    // Close every challenge window and every deadline: the relayer settles or refunds the rest.
    await provider.send("evm_increaseTime", [3600 + DEFAULT_PARAMS.challengeWindow + 1]);
    await provider.send("evm_mine", []);
    await waitUntil(async () => (await statuses()).every((s) => s === Status.Fulfilled || s === Status.Refunded), Math.max(60_000, REQUESTS * 300), "every request final").catch(
      async (error: Error) => {
        const histogram: Record<string, number> = {};
        for (const s of await statuses()) histogram[Status[s]] = (histogram[Status[s]] ?? 0) + 1;
        const complaints = relayer!.lines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-40).map((l) => l.slice(0, 600));
        throw new Error(`${error.message}; statuses ${JSON.stringify(histogram)}; rpc faults ${JSON.stringify(proxy.counts)}; relayer warnings:\n${complaints.join("\n")}`);
      },
    );
    const finalAt = Date.now();

    // Exactly once, from the chain's own events.
    const iface = oracle.interface;
    const topics = ["RequestFulfilled", "RequestRefunded", "ChallengeOpened"].map((n) => iface.getEvent(n as "RequestFulfilled")!.topicHash);
    const logs = await provider.getLogs({ address: oracleAddress, fromBlock: deployBlock, topics: [[...topics, RESULT_BATCH_TOPIC]] });
    const count = (topic: string) => {
      const m = new Map<string, number>();
      for (const l of logs) if (l.topics[0] === topic) m.set(l.topics[1]!.toLowerCase(), (m.get(l.topics[1]!.toLowerCase()) ?? 0) + 1);
      return m;
    };
    const [fulfilled, refunded, challenged] = topics.map(count) as [Map<string, number>, Map<string, number>, Map<string, number>];
    // Accepted results are the records of one ResultBatchSubmitted per batch.
    const submitted = new Map<string, number>();
    for (const r of submittedFromLogs(logs, oracleAddress)) submitted.set(r.requestId, (submitted.get(r.requestId) ?? 0) + 1);
    for (const id of ids) {
      expect((fulfilled.get(id) ?? 0) + (refunded.get(id) ?? 0), `final events of ${id}`).toBe(1);
      expect(submitted.get(id) ?? 0, `submissions of ${id}`).toBeLessThanOrEqual(1);
    }
    expect(challenged.size).toBe(0);

    // Funds: balance == stakes + escrowed fees of open requests + pull balances (no bonds: no challenges).
    const stakes = (await Promise.all(operators.map((op) => oracle.getWorker(op)))).reduce((a, w) => a + w.stake, 0n);
    let escrow = 0n;
    for (const id of ids) {
      const r = await oracle.getRequest(id);
      if (Number(r.status) >= Status.Requested && Number(r.status) <= Status.Challenged) escrow += r.fee;
    }
    const credited = await provider.getLogs({ address: oracleAddress, fromBlock: deployBlock, topics: [iface.getEvent("BalanceCredited").topicHash] });
    const accounts = new Set(credited.map((l) => String(iface.parseLog(l)!.args.account)));
    let pull = 0n;
    for (const a of accounts) pull += await oracle.balanceOf(a);
    expect(await provider.getBalance(oracleAddress)).toBe(stakes + escrow + pull);

    const outcome = { fulfilled: [...fulfilled.keys()].filter((id) => ids.includes(id)).length, refunded: [...refunded.keys()].filter((id) => ids.includes(id)).length };
    const deadLetters = await rabbitmqctlAsync("list_queues", "-p", vhost, "-q", "--no-table-headers", "name", "messages").catch((e: Error) => e.message);
    if (process.env.FAULT_DEBUG) {
      const warnings = (p: ServiceProcess | undefined) => (p?.lines ?? []).filter((l) => /"level":(40|50|60)/.test(l)).slice(-15).map((l) => l.slice(0, 400));
      console.log(`relayer warnings:\n${warnings(relayer).join("\n")}\nworker warnings:\n${workers.flatMap(warnings).join("\n")}`);
    }
    const summary = {
      requests: REQUESTS,
      seed: SEED,
      outcome,
      answeredBeforeDeadline: beforeDeadline.filter((s) => s !== Status.Requested).length,
      faults: {
        workerKills: faults.filter((f) => f.kind === "worker-kill").length,
        relayerKills: faults.filter((f) => f.kind === "relayer-kill").length,
        brokerDrops: faults.filter((f) => f.kind === "broker-drop").length,
        brokerRestarts: faults.filter((f) => f.kind === "broker-restart").length,
        rpcOutages: faults.filter((f) => f.kind === "rpc-outage").length,
        rpc: { ...proxy.counts },
      },
      probes,
      recovery: faults.map((f) => ({ kind: f.kind, restartMs: f.restartMs, recoveryMs: f.nextSubmissionMs ?? "none within 90 s" })),
      queues: deadLetters.split("\n").filter((l) => /\.dead\s+[1-9]/.test(l)),
      ms: { answered: answeredAt - started, final: finalAt - started },
    };
    console.log(`fault test summary: ${JSON.stringify(summary, null, 1)}`);
    // bench/scale.ts reads the recovery times from here.
    if (process.env.FAULT_SUMMARY_FILE) writeFileSync(process.env.FAULT_SUMMARY_FILE, JSON.stringify(summary, null, 1));

    // Graceful shutdown: SIGTERM lets every process finish and exit 0.
    const procs = [relayer!, ...workers.filter((w): w is ServiceProcess => w !== undefined)];
    for (const p of procs) p.kill("SIGTERM");
    const codes = await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(20_000).then(() => "timeout")]);
    expect(codes, "exit codes after SIGTERM").toEqual(procs.map(() => 0));
  }, Math.max(300_000, REQUESTS * 800));
});
