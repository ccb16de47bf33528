/**
 * Issue 13, finding 7 (second part): blinding the challenger with a flood. A flood that rate-limits
 * the challenger's shared address made the blob store answer 429/503; `fetchTrace` gave up after five
 * tries with TRACE_UNAVAILABLE and the daemon bonded a data-availability challenge against an honest
 * worker. Now only a definitive answer (404, or bytes that are not the signed ones) is "unavailable":
 * 429, 5xx and dropped connections are retried with backoff, then the audit is deferred to a later
 * poll, and given up (never challenged) when the challenge window closes.
 *
 * Loopback only: the real oracle and resolver on the in-process chain, the real cls model's trace, and
 * a blob store that answers 429/503 (or drops the connection) for the first N fetches.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { fetchTrace } from "../../challenger/fetchTrace.js";
import { ChallengerDaemon, type AuditOutcome, type DaemonTransaction } from "../../challenger/daemon.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { encodeTensor, hashEncoded, hashTensor, type Tensor } from "../../protocol/tensor.js";
import type { Hex } from "../../protocol/types.js";
import { commitTrace } from "../../protocol/trace.js";
import { clsCommitment, clsInput, nodeTrace } from "../challenger/fixtures.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Status, type Connection } from "../contracts/helpers.js";
import { deployVerifier } from "../fraud/helpers.js";

let conn: Connection;
let commitment: ModelCommitment;
let input: Tensor;
let honest: Tensor[];

beforeAll(async () => {
  conn = await network.create();
  commitment = await clsCommitment();
  input = clsInput();
  honest = await nodeTrace(input, { level: "all", threads: 1 });
});

/** A blob store whose first `flood` GETs are refused (429, 503, a dropped connection, in turn), or all with Infinity. */
async function floodedStore(blobs: Map<string, Buffer>, flood: number) {
  let gets = 0;
  const server: Server = createServer((req, res) => {
    const n = gets++;
    if (n < flood) {
      if (n % 3 === 0) return void res.writeHead(429, { "retry-after": "1" }).end("slow down");
      if (n % 3 === 1) return void res.writeHead(503).end("overloaded");
      return void req.socket.destroy();
    }
    const blob = blobs.get(req.url!.replace(/^\/blobs\//, "").toLowerCase());
    res.writeHead(blob === undefined ? 404 : 200).end(blob);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    gets: () => gets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fresh oracle with the classifier on a FraudProofResolver, and an honest result submitted. */
async function honestResult() {
  const fx = await deploy(conn);
  const verifier = await deployVerifier(fx.ethers);
  const fraud: any = await fx.ethers.deployContract("FraudProofResolver", [fx.oracleAddr, await fx.registry.getAddress(), await verifier.getAddress(), 86400, 3600, 3600]);
  await fx.registry.connect(fx.admin).setResolverApproval(await fraud.getAddress(), true);
  await fx.registry.connect(fx.modelOwner).registerModel(commitment.modelHash, modelInfo({ tiers: 2, resolver: await fraud.getAddress(), commitmentRoot: commitment.root }));
  await fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, commitment.traceTypes.length);
  const run = commitTrace(honest);
  const blobs = new Map<string, Buffer>();
  const encodedInput = encodeTensor(input);
  blobs.set(hashEncoded(encodedInput).toLowerCase(), encodedInput);
  blobs.set(run.traceRoot.toLowerCase(), encodeTensor(run.manifest));
  honest.forEach((t, i) => blobs.set(run.hashes[i]!.toLowerCase(), encodeTensor(t)));
  const result = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(honest.at(-1)!), traceRoot: run.traceRoot });
  return { fx, blobs, id: result.id as string };
}

function daemonFor(fx: Awaited<ReturnType<typeof deploy>>, url: string, txs: DaemonTransaction[]) {
  return new ChallengerDaemon({
    oracleAddress: fx.oracleAddr,
    runner: fx.challenger,
    blobStoreUrl: url,
    models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
    policy: { fraction: 0.05, maxBondAtRisk: 2n * PARAMS.challengeBond },
    fetch: { attempts: 3, backoffMs: 5, retryBaseMs: 30, retryMaxMs: 120, timeoutMs: 5_000 },
    onTransaction: (tx) => txs.push(tx),
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("attack: flooding the blob store so that an honest trace looks withheld", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("429/503/resets for the first fetches: the audit is deferred and retried, never a challenge", async () => {
    const { fx, blobs, id } = await honestResult();
    const store = await floodedStore(blobs, 25); // more refusals than one audit's tries per blob
    close = store.close;
    const txs: DaemonTransaction[] = [];
    const daemon = daemonFor(fx, store.url, txs);
    const seen: AuditOutcome[] = [];
    const started = Date.now();
    for (let poll = 0; poll < 40 && seen.at(-1)?.kind !== "honest"; poll++) {
      const outcome = (await daemon.poll()).get(id);
      if (outcome !== undefined) seen.push(outcome);
      await sleep(40);
    }
    expect(seen[0]).toMatchObject({ kind: "deferred" });
    expect(seen.at(-1)).toMatchObject({ kind: "honest" });
    expect(seen.filter((o) => o.kind !== "deferred" && o.kind !== "honest")).toEqual([]);
    expect(store.gets()).toBeGreaterThan(25);
    expect(txs).toEqual([]); // no bond, no availability challenge
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Submitted));
    expect(daemon.bondAtRisk()).toBe(0n);
    expect(daemon.pendingRetries().size).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("a store that never answers: deferred until the challenge window closes, then given up, never a challenge", async () => {
    const { fx, blobs, id } = await honestResult();
    const store = await floodedStore(blobs, Infinity);
    close = store.close;
    const txs: DaemonTransaction[] = [];
    const daemon = daemonFor(fx, store.url, txs);
    expect((await daemon.poll()).get(id)).toMatchObject({ kind: "deferred" });
    expect((await daemon.poll()).size).toBe(0); // not due yet
    await sleep(60);
    expect((await daemon.poll()).get(id)).toMatchObject({ kind: "deferred" });
    // The window passes with the store still refusing.
    await fx.ethers.provider.send("evm_increaseTime", [PARAMS.challengeWindow + 1]);
    await fx.ethers.provider.send("evm_mine", []);
    await sleep(150);
    expect((await daemon.poll()).get(id)).toMatchObject({ kind: "skipped", reason: "the challenge window has closed" });
    expect(daemon.pendingRetries().size).toBe(0);
    expect(txs).toEqual([]);
    expect(daemon.bondAtRisk()).toBe(0n);
  });

  it("a definitive 404 from the store is still a withheld trace (the DA challenge is kept for real withholding)", async () => {
    const { fx, blobs, id } = await honestResult();
    const run = commitTrace(honest);
    blobs.delete(run.hashes[3]!.toLowerCase());
    const store = await floodedStore(blobs, 4); // a few refusals first, then the 404
    close = store.close;
    const txs: DaemonTransaction[] = [];
    const daemon = daemonFor(fx, store.url, txs);
    let outcome: AuditOutcome | undefined;
    for (let poll = 0; poll < 20 && outcome?.kind !== "availabilityChallenged"; poll++) {
      outcome = (await daemon.poll()).get(id) ?? outcome;
      await sleep(40);
    }
    expect(outcome).toEqual({ kind: "availabilityChallenged" });
    // The dispute is opened, its trace bound in the resolver (every proof needs it), then the DA challenge.
    expect(txs.map((t) => t.label)).toEqual(["challenge", "bindTrace", "challengeAvailability"]);
    expect(await fx.oracle.state(id)).toBe(BigInt(Status.Challenged));
  });

  it("fetchTrace: refusals end as BLOB_STORE_UNAVAILABLE (retry later); only a 404 or wrong bytes are TRACE_UNAVAILABLE", async () => {
    const run = commitTrace(honest.slice(0, 3));
    const blobs = new Map<string, Buffer>([[run.traceRoot.toLowerCase(), encodeTensor(run.manifest)]]);
    honest.slice(0, 3).forEach((t, i) => blobs.set(run.hashes[i]!.toLowerCase(), encodeTensor(t)));
    const flooded = await floodedStore(blobs, Infinity);
    const options = { attempts: 3, backoffMs: 5 };
    await expect(fetchTrace(flooded.url, run.traceRoot as Hex, options)).rejects.toMatchObject({ code: "BLOB_STORE_UNAVAILABLE", details: { attempts: 3 } });
    expect(flooded.gets()).toBe(3);
    await flooded.close();
    // The store serves other bytes under a row's hash: as good as withheld.
    blobs.set(run.hashes[1]!.toLowerCase(), encodeTensor(honest[0]!));
    const lying = await floodedStore(blobs, 0);
    close = lying.close;
    await expect(fetchTrace(lying.url, run.traceRoot as Hex, options)).rejects.toMatchObject({ code: "TRACE_UNAVAILABLE", details: { hash: run.hashes[1] } });
  });
});
