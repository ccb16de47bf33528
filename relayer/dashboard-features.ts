/**
 * The dashboard's feature panels (docs/FEATURES.md), beside relayer/dashboard.ts:
 *
 *   GET /api/redundancy       the newest jobs of each watched RedundantInference contract: status, k, the
 *                             answers (request, status, worker, output hash) with the relayer's state of each request
 *   GET /api/tokens           every ERC-20 fee token seen: requests by state, tokens escrowed, paid, refunded
 *   GET /api/large-outputs    outputs delivered as their hash only: hash, URI, whether this relayer's blob
 *                             store holds the bytes and whether they hash to the output hash (checked once
 *                             per blob and relayer run)
 *   GET /api/chains           the newest chains of each watched ChainedInference contract: status, current
 *                             step, and each step's request with the relayer's state of it
 *
 * Tokens and large outputs come from the database (RelayerDb.features, recorded by ChainActivity as it follows
 * the oracle's events; relayer/db-features.ts); jobs and chains from the contracts the relayer serves (its
 * RedundancyAttester and ChainAdvancer), joined with the request rows. The panels are dashboard/features.js.
 */
import { Contract, type Provider } from "ethers";
import type { Express } from "express";
import { decodeHeaderOf, hashBundleEncoded, hashEncoded, isTensorBundle, Tier } from "../protocol/index.js";
import { AnswerStatus, JobStatus, redundantContract } from "../sdk/index.js";
import type { BlobStore } from "./blobs.js";
import type { ChainAdvancer } from "./chain-advancer.js";
import type { ChainActivity } from "./dashboard-activity.js";
import { refreshOrUnavailable } from "./dashboard.js";
import type { RelayerDb } from "./db.js";
import type { RequestBrief } from "./db-features.js";
import type { RedundancyAttester } from "./redundancy-attester.js";

const SHOWN = 50;

export interface FeaturesDeps {
  db: RelayerDb;
  blobs: BlobStore;
  provider: Provider;
  activity: ChainActivity;
  chainAdvancer: ChainAdvancer;
  redundancyAttester: RedundancyAttester;
  /** Base URL of this relayer's blob store (`${url}/blobs/<hash>`). */
  publicUrl: () => string;
}

const brief = (r: RequestBrief | undefined) => (r === undefined ? null : { state: r.state, tier: Tier[r.tier] ?? String(r.tier), worker: r.worker, outputHash: r.outputHash });

/**
 * `read` shared by every caller within `ms` of its start (and while it runs): the chain reads behind a panel are
 * made once per interval however many clients ask (anonymous callers must not multiply the
 * node's load).
 */
function shared<T>(read: () => Promise<T>, ms = 2000): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (last === undefined || Date.now() - last.at > ms) {
      const value = read();
      last = { at: Date.now(), value };
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

/** The newest jobs of each watched RedundantInference contract, each answer with the relayer's row of its request. */
async function redundancyJobs(deps: FeaturesDeps) {
  const contracts = [];
  for (const address of deps.redundancyAttester.addresses) {
    const contract = redundantContract(address, deps.provider);
    const total = Number(await contract.jobCount());
    const jobs = [];
    for (let id = total; id >= 1 && id > total - SHOWN; id--) {
      const [job, answers] = await Promise.all([contract.getJob(id), contract.getAnswers(id)]);
      const known = deps.db.features.requestBriefs(answers.map((a) => String(a.requestId)));
      jobs.push({
        jobId: String(id),
        status: JobStatus[Number(job.status)] ?? String(job.status),
        k: Number(job.k),
        counted: Number(job.counted),
        reserveLeft: Number(job.reserveLeft),
        delivered: job.delivered,
        callbackSucceeded: job.callbackSucceeded,
        requester: job.requester,
        modelHash: job.modelHash,
        outputHash: job.outputHash,
        deadline: Number(job.deadline),
        answers: answers.map((a, index) => ({
          index,
          requestId: String(a.requestId).toLowerCase(),
          status: AnswerStatus[Number(a.status)] ?? String(a.status),
          worker: a.worker,
          outputHash: a.outputHash,
          request: brief(known.get(String(a.requestId).toLowerCase())),
        })),
      });
    }
    contracts.push({ address, total, jobs });
  }
  return contracts;
}

export function mountFeaturesApi(app: Express, deps: FeaturesDeps): void {
  const redundancy = shared(() => redundancyJobs(deps));
  app.get("/api/redundancy", async (_req, res) => {
    res.json({ contracts: await redundancy() });
  });

  const tokenInfo = new Map<string, Promise<{ symbol: string | null; decimals: number | null }>>();
  const describeToken = (token: string) => {
    let info = tokenInfo.get(token);
    if (info === undefined) {
      const erc20 = new Contract(token, ["function symbol() view returns (string)", "function decimals() view returns (uint8)"], deps.provider);
      // A token without symbol() or decimals() (both optional in ERC-20) is shown by its address and raw amounts.
      info = Promise.all([erc20.symbol!().then(String, () => null), erc20.decimals!().then(Number, () => null)]).then(([symbol, decimals]) => ({ symbol, decimals }));
      tokenInfo.set(token, info);
    }
    return info;
  };
  app.get("/api/tokens", async (_req, res) => {
    await refreshOrUnavailable(deps.activity);
    const tokens = await Promise.all(deps.db.features.tokenSummaries().map(async (t) => ({ ...t, ...(await describeToken(t.token)) })));
    res.json({ tokens });
  });

  // A blob is content-addressed: once its bytes hash to the output hash they always will. Each blob is read and
  // hashed once (concurrent callers share the check), one at a time, so no caller can make the relayer hold
  // many large outputs in memory at once.
  const verified = new Map<string, Promise<boolean>>();
  let queue: Promise<unknown> = Promise.resolve();
  const verify = (hash: string): Promise<boolean> => {
    let check = verified.get(hash);
    if (check === undefined) {
      check = queue.then(async () => {
        const bytes = await deps.blobs.get(hash);
        try {
          return (isTensorBundle(bytes) ? hashBundleEncoded(bytes) : hashEncoded(bytes)).toLowerCase() === hash;
        } catch {
          return false; // not a canonical encoding
        }
      });
      queue = check.catch(() => undefined);
      // A read that failed (the blob collected meanwhile) is tried again by the next caller.
      check.catch(() => verified.delete(hash));
      while (verified.size >= 4096) verified.delete(verified.keys().next().value!);
      verified.set(hash, check);
    }
    return check;
  };
  app.get("/api/large-outputs", async (_req, res) => {
    await refreshOrUnavailable(deps.activity);
    const base = deps.publicUrl();
    const outputs = await Promise.all(
      deps.db.features.largeOutputs(SHOWN).map(async (o) => {
        const stored = o.size !== null && deps.blobs.has(o.outputHash);
        let shape: { dtype: string; shape: number[] } | null = null;
        if (stored) {
          try {
            const h = decodeHeaderOf(await deps.blobs.head(o.outputHash, 4096), o.size!);
            shape = { dtype: h.dtype, shape: [...h.shape] };
          } catch {
            shape = null; // a bundle, or not a tensor: its hash check below still says whether it is the output
          }
        }
        return {
          requestId: o.requestId,
          outputHash: o.outputHash,
          uri: `${base}/blobs/${o.outputHash}`,
          state: o.state,
          tier: o.tier === null ? null : (Tier[o.tier] ?? String(o.tier)),
          modelHash: o.modelHash,
          block: o.block,
          tx: o.tx,
          callbackOk: o.callbackOk === 1,
          stored,
          size: stored ? o.size : null,
          tensor: shape,
          verified: stored ? await verify(o.outputHash).catch(() => null) : null,
        };
      }),
    );
    res.json({ delivered: deps.db.features.deliveryCounts(), outputs });
  });

  const chains = shared(() => deps.chainAdvancer.recent(SHOWN));
  app.get("/api/chains", async (_req, res) => {
    const contracts = await chains();
    const known = deps.db.features.requestBriefs(contracts.flatMap((c) => c.chains.flatMap((ch) => ch.requestIds as string[])));
    res.json({
      contracts: contracts.map((c) => ({
        ...c,
        chains: c.chains.map((ch) => ({
          ...ch,
          stepStates: (ch.requestIds as string[]).map((requestId, i) => ({ step: i + 1, requestId: requestId.toLowerCase(), request: brief(known.get(requestId.toLowerCase())) })),
        })),
      })),
    });
  });
}
