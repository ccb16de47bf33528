/**
 * Issue 13, finding 7 (fourth part): audits were sequential and the block cursor was not saved, so one
 * poisoned trace that hangs (or crashes) the challenger blocked every other audit, and a restart read
 * the chain from `startBlock` again and re-audited the same poison, forever. Now audits run
 * concurrently (nearest challenge deadline first), and with `statePath` the cursor, the pending audits
 * and how often each was started are saved: an audit started `maxAuditStarts` times without finishing
 * is given up, and results already audited are not audited again after a restart.
 *
 * Loopback only: the real oracle and resolver, the cls model's honest trace, and a "poisoned" result
 * whose manifest (of the committed length) names rows the store never finishes answering.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { network } from "hardhat";
import { ChallengerDaemon, type AuditOutcome, type DaemonTransaction } from "../../challenger/daemon.js";
import type { ModelCommitment } from "../../protocol/commitment.js";
import { encodeTensor, hashEncoded, hashTensor, type Tensor } from "../../protocol/tensor.js";
import { commitTrace, traceManifest } from "../../protocol/trace.js";
import type { Hex } from "../../protocol/types.js";
import { clsCommitment, clsInput, nodeTrace } from "../challenger/fixtures.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Status, type Connection } from "../contracts/helpers.js";
import { deployVerifier } from "../fraud/helpers.js";
import { loopbackServer, waitFor, type LoopbackServer } from "../worker/fixtures.js";

let conn: Connection;
let commitment: ModelCommitment;
let input: Tensor;
let honest: Tensor[];
let dir: string;

beforeAll(async () => {
  conn = await network.create();
  commitment = await clsCommitment();
  input = clsInput();
  honest = await nodeTrace(input, { level: "all", threads: 1 });
  dir = mkdtempSync(join(tmpdir(), "challenger-state-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("attack: a poisoned trace that hangs the challenger, then again after every restart", () => {
  let store: LoopbackServer | undefined;
  afterAll(async () => store?.close());

  it("other audits go on beside it, and after two unfinished starts it is never started again", async () => {
    const fx = await deploy(conn);
    const verifier = await deployVerifier(fx.ethers);
    const fraud: any = await fx.ethers.deployContract("FraudProofResolver", [fx.oracleAddr, await fx.registry.getAddress(), await verifier.getAddress(), 86400, 3600, 3600]);
    await fx.registry.connect(fx.admin).setResolverApproval(await fraud.getAddress(), true);
    await fx.registry.connect(fx.modelOwner).registerModel(commitment.modelHash, modelInfo({ tiers: 2, resolver: await fraud.getAddress(), commitmentRoot: commitment.root }));
    await fraud.connect(fx.modelOwner).setTraceCount(commitment.modelHash, commitment.traceTypes.length);

    const blobs = new Map<string, Buffer>();
    const encodedInput = encodeTensor(input);
    blobs.set(hashEncoded(encodedInput).toLowerCase(), encodedInput);
    const run = commitTrace(honest);
    blobs.set(run.traceRoot.toLowerCase(), encodeTensor(run.manifest));
    honest.forEach((t, i) => blobs.set(run.hashes[i]!.toLowerCase(), encodeTensor(t)));
    // The poison: a manifest of the committed length whose rows are never answered.
    const poisonManifest = encodeTensor(traceManifest(commitment.traceTypes.map(() => `0x${randomBytes(32).toString("hex")}` as Hex)));
    const poisonRoot = hashEncoded(poisonManifest).toLowerCase();
    blobs.set(poisonRoot, poisonManifest);
    store = await loopbackServer((req, _body, res) => {
      const blob = blobs.get(req.url!.replace(/^\/blobs\//, "").toLowerCase());
      if (blob === undefined) return; // hang: never answered
      res.end(blob);
    });
    const asked = (root: string) => store!.requests.filter((r) => r.url.toLowerCase() === `/blobs/${root}`).length;

    // The poison first: its challenge deadline is the nearest, so it is audited first.
    const poison = await requestAndSubmit(fx, 0, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(honest.at(-1)!), traceRoot: poisonRoot });
    const good = await requestAndSubmit(fx, 1, { modelHash: commitment.modelHash, inputHash: hashTensor(input), outputHash: hashTensor(honest.at(-1)!), traceRoot: run.traceRoot });

    const statePath = join(dir, "state.json");
    const txs: DaemonTransaction[] = [];
    const daemon = (audits: Array<[string, AuditOutcome]>) =>
      new ChallengerDaemon({
        oracleAddress: fx.oracleAddr,
        runner: fx.challenger,
        blobStoreUrl: store!.url,
        models: new Map([[commitment.modelHash.toLowerCase(), commitment]]),
        policy: { fraction: 0.05, maxBondAtRisk: 2n * PARAMS.challengeBond },
        fetch: { attempts: 1, timeoutMs: 60_000 },
        concurrency: 2,
        statePath,
        maxAuditStarts: 2,
        onTransaction: (tx) => txs.push(tx),
        onAudit: (a) => audits.push([a.requestId, a.outcome]),
      });
    const state = () => JSON.parse(readFileSync(statePath, "utf8")) as { fromBlock: number; pending: Array<{ requestId: string }>; starts: Array<[string, number]> };

    // First run: the poison hangs its lane; the honest result is audited beside it. Then it "crashes".
    const first: Array<[string, AuditOutcome]> = [];
    void daemon(first).poll().catch(() => undefined);
    await waitFor(() => first.find(([id]) => id === good.id), 20_000, "the honest audit beside the hanging one");
    expect(first.find(([id]) => id === good.id)![1]).toMatchObject({ kind: "honest" });
    expect(state().starts).toEqual([[poison.id, 1]]);
    expect(state().pending.map((p) => p.requestId)).toEqual([poison.id]);

    // Second run (a restart): only the unfinished poison is started again; the honest one is not re-read.
    const second: Array<[string, AuditOutcome]> = [];
    void daemon(second).poll().catch(() => undefined);
    await waitFor(() => (asked(poisonRoot) >= 2 && state().starts[0]?.[1] === 2 ? true : undefined), 10_000, "the second start");
    expect(asked(run.traceRoot)).toBe(1);

    // Third run: started twice without finishing, it is given up without one more download.
    const third: Array<[string, AuditOutcome]> = [];
    const outcomes = await daemon(third).poll();
    expect([...outcomes.keys()]).toEqual([poison.id]);
    expect(outcomes.get(poison.id)).toMatchObject({ kind: "skipped", reason: expect.stringContaining("started 2 times without finishing") });
    expect(asked(poisonRoot)).toBe(2); // every start of that audit begins with its manifest
    expect(state().pending).toEqual([]);
    expect(state().starts).toEqual([]);
    expect((await daemon([]).poll()).size).toBe(0); // nothing left, nothing re-audited
    expect(txs).toEqual([]);
    expect(await fx.oracle.state(good.id)).toBe(BigInt(Status.Submitted));
  });
});
