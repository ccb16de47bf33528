/**
 * RelayerDb.features (relayer/db-features.ts) on a real database: token amounts summed per token by request
 * state without losing precision (uint256 amounts far beyond 2^53), refunds and claims, a re-scan recording the
 * same events again counted once, hash-only deliveries joined with their request and the blob store's index,
 * and request briefs for ids in any case.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayerDb, type RequestState } from "../../relayer/db.js";

const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
const TOKEN_A = "0x" + "aa".repeat(20);
const TOKEN_B = "0x" + "Bb".repeat(20);

describe("RelayerDb.features", () => {
  let dir: string;
  let db: RelayerDb;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "feature-ledger-"));
    db = new RelayerDb(dir);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (n: number, state: RequestState, tier = 0) => {
    db.insertRequest({ id: id(n), requester: "0x" + "01".repeat(20), modelHash: id(1000), inputHash: id(2000 + n), inputURI: "", tier, fee: "1", deadline: 0, callbackGasLimit: 0, state: "requested", block: n, observedAt: 0 });
    if (state !== "requested") db.updateRequest(id(n), { state });
  };

  it("sums each token's amounts by request state, exactly", () => {
    const huge = 2n ** 200n + 12345n;
    request(1, "requested");
    request(2, "submitted");
    request(3, "fulfilled");
    request(4, "refunded");
    request(5, "challenged");
    for (const [n, token, amount] of [[1, TOKEN_A, huge], [2, TOKEN_A, 7n], [3, TOKEN_A, huge], [4, TOKEN_A, 5n], [5, TOKEN_B, 3n]] as const) {
      db.features.recordTokenFee({ requestId: id(n).toUpperCase().replace("0X", "0x"), token, amount, ownerFee: 1n, block: n });
    }
    db.features.recordTokenRefund(id(4), 5n);
    // A re-scan records the same events again: still one row per request.
    db.features.recordTokenFee({ requestId: id(1), token: TOKEN_A, amount: huge, ownerFee: 1n, block: 1 });

    const byToken = new Map(db.features.tokenSummaries().map((t) => [t.token, t]));
    expect([...byToken.keys()].sort()).toEqual([TOKEN_A, TOKEN_B.toLowerCase()].sort());
    expect(byToken.get(TOKEN_A)).toEqual({
      token: TOKEN_A,
      requests: 4,
      byState: { requested: 1, submitted: 1, fulfilled: 1, refunded: 1 },
      escrowed: (huge + 7n).toString(),
      paid: huge.toString(),
      refunded: "5",
      refundsClaimed: "5",
      ownerFees: "4",
    });
    expect(byToken.get(TOKEN_B.toLowerCase())).toMatchObject({ requests: 1, byState: { challenged: 1 }, escrowed: "3", paid: "0" });
  });

  it("lists hash-only deliveries newest first with their request and blob; inline ones only counted", () => {
    request(1, "fulfilled", 1);
    request(2, "fulfilled");
    request(3, "fulfilled");
    const held = id(9001);
    db.blobs.put(held, 16408, 0, 0);
    db.features.recordDelivery({ requestId: id(1), outputHash: held.toUpperCase().replace("0X", "0x"), inline: false, callbackOk: true, block: 10, tx: id(1) });
    db.features.recordDelivery({ requestId: id(2), outputHash: id(9002), inline: false, callbackOk: false, block: 12, tx: id(2) });
    db.features.recordDelivery({ requestId: id(3), outputHash: id(9003), inline: true, callbackOk: true, block: 11, tx: id(3) });
    db.features.recordDelivery({ requestId: id(3), outputHash: id(9003), inline: true, callbackOk: true, block: 11, tx: id(3) });

    expect(db.features.deliveryCounts()).toEqual({ inline: 1, hashOnly: 2 });
    const rows = db.features.largeOutputs();
    expect(rows.map((r) => r.requestId)).toEqual([id(2), id(1)]);
    expect(rows[1]).toMatchObject({ outputHash: held, size: 16408, state: "fulfilled", tier: 1, modelHash: id(1000), callbackOk: 1 });
    expect(rows[0]).toMatchObject({ size: null, callbackOk: 0 });
  });

  it("briefs the requests it knows, whatever the case of the ids asked", () => {
    request(1, "submitted");
    db.updateRequest(id(1), { worker: "0x" + "02".repeat(20), outputHash: id(7) });
    const briefs = db.features.requestBriefs([id(1).toUpperCase().replace("0X", "0x"), id(2)]);
    expect([...briefs.keys()]).toEqual([id(1)]);
    expect(briefs.get(id(1))).toMatchObject({ state: "submitted", tier: 0, worker: "0x" + "02".repeat(20), outputHash: id(7) });
  });
});
