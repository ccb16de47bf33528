/** Request -> result latency on the local chain (bench/throughput.ts's second part). */
import { Tier, encodeTensor } from "../protocol/index.js";
import { median, percentile } from "./stats.js";

/** Result format v2 (docs/V2.md §3): results sign no trace and the worker builds none (trace on demand). */
export type TraceMode = "none";

export interface LatencyResult {
  tier: "NONE" | "OPTIMISTIC";
  trace: TraceMode;
  requests: number;
  /** Request mined -> result on-chain (NONE: settled, callback delivered, in that transaction). */
  requestToResultOnChainMs: { p50: number; p99: number };
  /** Worker: job received -> signed result (median). */
  workerTotalMs: number;
}

/**
 * Request -> result latency on the local chain (cls model, one worker, relayer polling every 50 ms).
 * NONE tier: the result's transaction settles the request (state "fulfilled"). OPTIMISTIC: the
 * result is on-chain ("submitted"); settlement follows after the challenge window.
 */
export async function latencyCase(tier: Tier, trace: TraceMode, requests: number, gapMs: number, threads: number, blockMs: number, relayerPollMs: number): Promise<LatencyResult> {
  const { startLocalStack, REQUEST_FEE, waitFor } = await import("../stack/local-stack.js");
  const { textLineTensor } = await import("../examples/text-images.js");
  void trace;
  const stack = await startLocalStack({ tier, worker: { intraOpNumThreads: threads }, relayer: { pollIntervalMs: relayerPollMs } });
  try {
    const { relayer, dapp, oracle, networkHelpers } = stack;
    const deadline = (await networkHelpers.time.latest()) + 3600;
    const upload = async (bytes: Uint8Array): Promise<{ hash: string; uri: string }> => {
      const res = await fetch(`${relayer.url}/blobs`, { method: "POST", body: Buffer.from(bytes), headers: { "content-type": "application/octet-stream" } });
      if (res.status !== 201) throw new Error(`blob upload failed: ${res.status}`);
      return (await res.json()) as { hash: string; uri: string };
    };
    const inputs = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(encodeTensor(textLineTensor(`Latency line ${i}`, { rotated: i % 2 === 1 })))));
    const send = async (i: number) => {
      const { hash, uri } = inputs[i % inputs.length]!;
      const receipt = (await (await dapp.classify(hash, uri, deadline, { value: REQUEST_FEE })).wait())!;
      const event = receipt.logs.map((l) => oracle.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested");
      return { id: String(event!.args.requestId).toLowerCase(), minedAt: Date.now() };
    };
    // Warm: model fetch and verification, session, trace session.
    const warm = await send(0);
    relayer.poke();
    const done = new Set(tier === Tier.NONE ? ["fulfilled"] : ["submitted", "fulfilled"]);
    await waitFor(() => done.has(relayer.db.getRequest(warm.id)?.state ?? ""), 120_000, "the warm-up request");
    // From here on a block every blockMs (a real chain's cadence) instead of one per transaction.
    if (blockMs > 0) {
      await stack.ethers.provider.send("evm_setAutomine", [false]);
      await stack.ethers.provider.send("evm_setIntervalMining", [blockMs]);
    }
    const sent: { id: string; minedAt: number }[] = [];
    const reached = new Map<string, number>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const r of sent) {
          if (!reached.has(r.id) && done.has(relayer.db.getRequest(r.id)?.state ?? "")) reached.set(r.id, Date.now());
        }
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    for (let i = 0; i < requests; i++) {
      sent.push(await send(i + 1));
      await new Promise((res) => setTimeout(res, gapMs));
    }
    await waitFor(() => sent.every((r) => reached.has(r.id)), 300_000, "every result on-chain");
    polling = false;
    await poll;
    const lat = sent.map((r) => reached.get(r.id)! - r.minedAt);
    const totals = sent.map((r) => relayer.db.getRequest(r.id)!).map((row) => (row.replyAt ?? NaN) - row.observedAt).filter((x) => Number.isFinite(x));
    return {
      tier: tier === Tier.NONE ? "NONE" : "OPTIMISTIC",
      trace,
      requests,
      requestToResultOnChainMs: { p50: Math.round(median(lat)), p99: Math.round(percentile(lat, 99)) },
      workerTotalMs: Math.round(median(totals)),
    };
  } finally {
    await stack.close();
  }
}
