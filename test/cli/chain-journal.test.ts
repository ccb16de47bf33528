/**
 * The `oracle dev` chain journal on Hardhat's in-process chain: a chain built by transactions,
 * interval mining, evm_mine, hardhat_mine, state calls and a snapshot reverted is rebuilt with the
 * same head hash and state; a journal whose replay differs, or that was cut short mid-line, is
 * handled as documented.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { afterAll, describe, expect, it } from "vitest";
import { ChainJournal, JournalError } from "../../cli/chain-journal.js";

type Block = { number: string; hash: string };
const dir = mkdtempSync(join(tmpdir(), "oracle-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function chain(initialDate: Date) {
  return network.create({ override: { initialDate, mining: { mempool: { order: "fifo" } } } } as Parameters<typeof network.create>[0]);
}

describe("ChainJournal", () => {
  it("replays a chain to the same head hash and state", async () => {
    const file = join(dir, "chain.jsonl");
    const initialDate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const one = await chain(initialDate);
    const journal = await ChainJournal.create(file, one.provider, initialDate, {}, () => undefined);
    journal.attach(one.provider, 0, 100);
    const [a, b, c] = await one.ethers.getSigners();
    await one.provider.request({ method: "hardhat_setNonce", params: [a!.address, "0x99"] });
    await (await a!.sendTransaction({ to: b!.address, value: 1n })).wait();
    await one.provider.request({ method: "hardhat_mine", params: ["0x3e8", "0x2"] });
    const snapshot = await one.provider.request({ method: "evm_snapshot", params: [] });
    await (await a!.sendTransaction({ to: b!.address, value: 2n })).wait();
    await one.provider.request({ method: "hardhat_setBalance", params: [c!.address, "0x1234"] });
    expect(await one.provider.request({ method: "evm_revert", params: [snapshot] })).toBe(true);
    await one.provider.request({ method: "hardhat_setBalance", params: [c!.address, "0x5678"] });
    await one.provider.request({ method: "evm_setIntervalMining", params: [100] });
    await new Promise((r) => setTimeout(r, 1500));
    await one.provider.request({ method: "evm_setIntervalMining", params: [0] });
    for (let i = 0; i < 20; i++) await one.provider.request({ method: "evm_mine", params: [] });
    await journal.close();
    const head = (await one.provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as Block;
    await expect(one.provider.request({ method: "hardhat_reset", params: [] })).rejects.toThrow(/--fresh/);

    const two = await chain(initialDate);
    const { result } = await ChainJournal.replay(file, two.provider, () => undefined);
    expect(result.blocks).toBe(Number(BigInt(head.number)));
    expect(result.transactions).toBe(1);
    const replayed = (await two.provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as Block;
    expect(replayed.hash).toBe(head.hash);
    expect(await two.ethers.provider.getBalance(c!.address)).toBe(0x5678n);
    expect(await two.ethers.provider.getTransactionCount(a!.address)).toBe(0x9a);

    // A line cut short by a crash (the last one) is dropped; the chain up to it is kept.
    appendFileSync(file, '{"b":99999,"t":1');
    const three = await chain(initialDate);
    expect((await ChainJournal.replay(file, three.provider, () => undefined)).result.blocks).toBe(result.blocks);

    // A block whose replay differs (here its recorded timestamp) is refused, naming it.
    const lines = readFileSync(file, "utf8").trim().split("\n");
    const i = lines.findLastIndex((l) => l.startsWith('{"b":') && l.includes('"x":[]'));
    const n = Number(/^\{"b":(\d+)/.exec(lines[i]!)![1]);
    lines[i] = lines[i]!.replace(/"t":(\d+)/, (_m, t: string) => `"t":${Number(t) + 1}`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const four = await chain(initialDate);
    const refused = ChainJournal.replay(file, four.provider, () => undefined);
    await expect(refused).rejects.toBeInstanceOf(JournalError);
    await expect(refused).rejects.toThrow(`replayed block ${n} differs from the recorded one`);

    // Another genesis (a chain made at another date) is refused before anything is replayed.
    const other = await chain(new Date(initialDate.getTime() + 1000));
    await expect(ChainJournal.replay(file, other.provider, () => undefined)).rejects.toThrow(/genesis block differs/);
  }, 120_000);
});
