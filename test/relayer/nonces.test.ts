/**
 * The relayer's nonce manager against the real in-process chain (EDR) with mining under the
 * test's control (automine off): stuck transactions are replaced with higher fees, a bounded number
 * of times and never above the cap; a dropped transaction is sent again and the nonces behind it
 * are mined; a restart resumes from the database; a nonce undone by a reorg is sent again; a nonce
 * taken by a transaction the manager never sent is reported, not waited on forever.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, parseEther } from "ethers";
import { network } from "hardhat";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger, isError } from "../../protocol/index.js";
import { RelayerDb } from "../../relayer/db.js";
import { TransactionManager, type FeePolicy } from "../../relayer/tx-manager.js";

type Conn = Awaited<ReturnType<typeof network.create>>;

describe("nonce manager", () => {
  let conn: Conn;
  let wallet: Wallet;
  const dirs: string[] = [];
  const dbs: RelayerDb[] = [];
  const log = createLogger("test", { level: "silent" });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const rpc = (method: string, params: unknown[] = []) => conn.ethers.provider.send(method, params);
  const hex = (n: bigint) => `0x${n.toString(16)}`;

  beforeAll(async () => {
    conn = await network.create();
    const [funder] = await conn.ethers.getSigners();
    wallet = new Wallet(Wallet.createRandom().privateKey, conn.ethers.provider);
    await (await funder!.sendTransaction({ to: wallet.address, value: parseEther("10") })).wait();
  });
  afterEach(async () => {
    await rpc("evm_setAutomine", [true]);
  });
  afterAll(async () => {
    for (const db of dbs) db.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await conn?.provider.close();
  });

  const policy = (over: Partial<FeePolicy> = {}): FeePolicy => ({
    bumpAfterMs: 300,
    maxBumps: 3,
    bumpPercent: 12.5,
    maxFeePerGas: parseEther("0.001"),
    pollMs: 30,
    ...over,
  });
  const openDb = (dir?: string): { db: RelayerDb; dir: string } => {
    const d = dir ?? mkdtempSync(join(tmpdir(), "oracle-nonces-"));
    if (dir === undefined) dirs.push(d);
    const db = new RelayerDb(d);
    dbs.push(db);
    return { db, dir: d };
  };
  const manager = (db: RelayerDb, over: Partial<FeePolicy> = {}) => new TransactionManager(conn.ethers.provider, wallet, db, log, policy(over));
  const transfer = { to: "0x000000000000000000000000000000000000dEaD", value: 1n };
  /** Mines a block every 100 ms (base fee set by `baseFee()` when given) until `done` resolves. */
  async function mineWhile<T>(done: Promise<T>, baseFee?: () => bigint | undefined, timeoutMs = 20_000): Promise<T> {
    let finished = false;
    const result = done.finally(() => (finished = true));
    const end = Date.now() + timeoutMs;
    while (!finished) {
      if (Date.now() > end) throw new Error("timed out mining");
      const fee = baseFee?.();
      if (fee !== undefined) await rpc("hardhat_setNextBlockBaseFeePerGas", [hex(fee)]);
      await rpc("evm_mine");
      await sleep(100);
    }
    return result;
  }

  it("replaces a stuck transaction with at least +10% fees and the replacement is what gets mined", async () => {
    await rpc("evm_setAutomine", [false]);
    const { db } = openDb();
    const m = manager(db);
    const sent = await m.send("stuck", transfer);
    const first = m.row(sent.nonce)!;
    const stuckBase = BigInt(first.maxFeePerGas) + 1n; // the offered fee no longer covers the base fee
    await rpc("hardhat_setNextBlockBaseFeePerGas", [hex(stuckBase)]);
    await rpc("evm_mine");
    expect(await conn.ethers.provider.getTransactionReceipt(sent.hash)).toBeNull();

    const receipt = await mineWhile(m.wait(sent.nonce), () => stuckBase);
    const row = m.row(sent.nonce)!;
    const hashes = JSON.parse(row.hashes) as string[];
    expect(row.state).toBe("mined");
    expect(row.bumps).toBeGreaterThanOrEqual(1);
    expect(hashes.length).toBe(row.bumps + 1);
    expect(receipt.hash).not.toBe(sent.hash);
    expect(hashes).toContain(receipt.hash);
    expect(BigInt(row.maxFeePerGas) * 100n).toBeGreaterThanOrEqual(BigInt(first.maxFeePerGas) * 110n);
    expect(BigInt(row.maxPriorityFeePerGas) * 100n).toBeGreaterThanOrEqual(BigInt(first.maxPriorityFeePerGas) * 110n);
    // Exactly one transaction of that nonce was mined.
    expect(await conn.ethers.provider.getTransactionCount(wallet.address, "latest")).toBe(sent.nonce + 1);
  });

  it("bumps a bounded number of times and never above the fee cap", async () => {
    await rpc("evm_setAutomine", [false]);
    const { db } = openDb();
    const m = manager(db, { bumpAfterMs: 150, maxBumps: 4 });
    const sent = await m.send("capped", transfer);
    const first = BigInt(m.row(sent.nonce)!.maxFeePerGas);
    // Room for one replacement (+12.5%) but not a second one (+10% more would pass the cap).
    m.policy.maxFeePerGas = (first * 118n) / 100n;
    const high = first * 3n;
    const waiting = m.wait(sent.nonce);
    const deadline = Date.now() + 2_500;
    while (Date.now() < deadline) {
      await rpc("hardhat_setNextBlockBaseFeePerGas", [hex(high)]);
      await rpc("evm_mine");
      await sleep(100);
    }
    const row = m.row(sent.nonce)!;
    expect(row.state).toBe("pending");
    expect(JSON.parse(row.hashes)).toHaveLength(2); // the original and one replacement
    expect(BigInt(row.maxFeePerGas)).toBeLessThanOrEqual(m.policy.maxFeePerGas);
    expect(m.stats.bumps).toBe(1);
    // Fees fall back under the cap: the last replacement is mined.
    const receipt = await mineWhile(waiting, () => first / 2n);
    expect(receipt.hash).toBe((JSON.parse(m.row(sent.nonce)!.hashes) as string[])[1]);
  });

  it("sends a dropped transaction again, so the nonces behind it are mined", async () => {
    await rpc("evm_setAutomine", [false]);
    const { db } = openDb();
    const m = manager(db, { bumpAfterMs: 60_000 });
    const a = await m.send("a", transfer);
    const b = await m.send("b", transfer);
    expect(b.nonce).toBe(a.nonce + 1);
    expect(await rpc("hardhat_dropTransaction", [a.hash])).toBe(true);
    await rpc("evm_mine");
    expect(await conn.ethers.provider.getTransactionCount(wallet.address, "latest")).toBe(a.nonce); // b waits behind the gap

    const rb = await mineWhile(m.wait(b.nonce));
    const ra = await m.wait(a.nonce);
    expect(ra.hash).toBe(a.hash);
    expect(rb.hash).toBe(b.hash);
    expect(m.stats.rebroadcasts).toBeGreaterThanOrEqual(1);
    expect(m.stats.fillers).toBe(0);
  });

  it("resumes after a restart: reconciles with the chain and sends what the node lost", async () => {
    await rpc("evm_setAutomine", [false]);
    const { db, dir } = openDb();
    const before = manager(db, { bumpAfterMs: 60_000 });
    const a = await before.send("before-crash", transfer);
    // The process dies here; the node loses the transaction too (a restart of the node, say).
    db.close();
    await rpc("hardhat_dropTransaction", [a.hash]);
    expect(await conn.ethers.provider.getTransactionCount(wallet.address, "pending")).toBe(a.nonce);

    const after = manager(openDb(dir).db, { bumpAfterMs: 60_000 });
    await after.start();
    expect(after.pendingNonces()).toEqual([a.nonce]);
    expect(after.nextNonce).toBe(a.nonce + 1); // not the chain's pending count: that would reuse a's nonce
    const b = await after.send("after-restart", transfer);
    expect(b.nonce).toBe(a.nonce + 1);
    await mineWhile(after.wait(b.nonce));
    expect((await after.wait(a.nonce)).hash).toBe(a.hash);
    expect(after.pendingNonces()).toEqual([]);
  });

  it("sends again a transaction a reorg took out of the chain", async () => {
    const { db } = openDb();
    const m = manager(db, { bumpAfterMs: 60_000 });
    const snapshot = await rpc("evm_snapshot");
    const a = await m.send("reorged", transfer); // automine: mined at once
    await m.wait(a.nonce);
    expect(m.row(a.nonce)!.state).toBe("mined");
    await rpc("evm_revert", [snapshot]);
    await rpc("evm_setAutomine", [false]);
    await rpc("evm_mine"); // the other branch
    expect(await conn.ethers.provider.getTransactionCount(wallet.address, "latest")).toBe(a.nonce);

    const b = await m.send("after-reorg", transfer);
    expect(b.nonce).toBe(a.nonce + 1);
    await mineWhile(m.wait(b.nonce));
    expect((await m.wait(a.nonce)).hash).toBe(a.hash);
    expect(await conn.ethers.provider.getTransactionCount(wallet.address, "latest")).toBe(b.nonce + 1);
  });

  it("fills a nonce nobody holds and reports one taken by a transaction it never sent", async () => {
    await rpc("evm_setAutomine", [false]);
    const { db } = openDb();
    const m = manager(db, { bumpAfterMs: 60_000 });
    await m.start();
    // Someone else with this key takes the next nonce while the manager's transaction is dropped.
    const c = await m.send("taken", transfer);
    await rpc("hardhat_dropTransaction", [c.hash]);
    const outsider = await wallet.sendTransaction({ ...transfer, nonce: c.nonce, value: 2n });
    await rpc("evm_mine");
    expect((await conn.ethers.provider.getTransactionReceipt(outsider.hash))?.status).toBe(1);
    const error = await m.wait(c.nonce).catch((e: unknown) => e);
    expect(isError(error, "CHAIN_UNAVAILABLE")).toBe(true);
    expect(m.row(c.nonce)!.state).toBe("lost");

    // A nonce below ours that nobody holds (e.g. the database was restored from an old copy and
    // forgot a transaction the node also lost): the manager fills it so the nonces above can be mined.
    const internals = m as unknown as { next: number };
    const gap = internals.next;
    internals.next = gap + 1;
    const e = await m.send("behind-a-gap", transfer);
    expect(e.nonce).toBe(gap + 1);
    await mineWhile(m.wait(e.nonce));
    expect(m.row(gap)!.label).toBe("gap-filler");
    expect(m.row(gap)!.state).toBe("mined");
    expect(m.stats.fillers).toBe(1);
  });
});
