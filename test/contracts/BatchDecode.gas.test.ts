/**
 * What reading a result batch costs in the ABI form `submitBatch` takes against a packed form
 * (BatchDecodeHarness, compiled with InferenceOracle's settings): both forms read the same fields of the
 * same batch (fuzzed), a malformed packed batch reverts with its offset, and the packed form is
 * measured per item at batch 32 (the figure docs/PROTOCOL.md, "Gas per OPTIMISTIC result", quotes).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { network } from "hardhat";
import { Wallet, concat, hexlify, toBeHex, zeroPadValue, type BaseContract } from "ethers";
import { seededRandom } from "../../protocol/random.js";
import { expectRevert } from "./helpers.js";

type Item = { requestId: string; outputHash: string; output: string; proof: string };

function bytesOf(rand: () => number, n: number): string {
  return hexlify(Uint8Array.from({ length: n }, () => Math.floor(rand() * 256)));
}

/** The packed form: per item requestId, outputHash, uint16 output length, uint16 proof length, output, proof. */
function pack(items: Item[]): string {
  return concat(
    items.flatMap((it) => [
      it.requestId,
      it.outputHash,
      zeroPadValue(toBeHex((it.output.length - 2) / 2), 2),
      zeroPadValue(toBeHex((it.proof.length - 2) / 2), 2),
      it.output,
      it.proof,
    ]),
  );
}

describe("BatchDecodeHarness: ABI vs packed result batches", () => {
  let harness: BaseContract & Record<string, any>;
  const payee = Wallet.createRandom().address;
  const signature = hexlify(new Uint8Array(65).fill(7));

  beforeAll(async () => {
    const { ethers } = await network.create();
    harness = (await ethers.deployContract("BatchDecodeHarness", [])) as never;
  });

  it("reads the same fields from both forms (fuzz, 40 batches)", async () => {
    const rand = seededRandom(15);
    for (let b = 0; b < 40; b++) {
      const n = 1 + Math.floor(rand() * 12);
      const items: Item[] = Array.from({ length: n }, () => ({
        requestId: bytesOf(rand, 32),
        outputHash: bytesOf(rand, 32),
        output: bytesOf(rand, rand() < 0.5 ? 0 : Math.floor(rand() * 300)),
        proof: bytesOf(rand, rand() < 0.7 ? 0 : Math.floor(rand() * 100)),
      }));
      const viaAbi = await harness.abiForm({ payee, signature, items });
      const viaPacked = await harness.packedForm(payee, signature, pack(items));
      expect(viaPacked, `batch ${b}`).toBe(viaAbi);
    }
  });

  it("refuses a malformed packed batch: short, long, lengths past the end", async () => {
    const rand = seededRandom(16);
    const item: Item = { requestId: bytesOf(rand, 32), outputHash: bytesOf(rand, 32), output: bytesOf(rand, 10), proof: "0x" };
    const good = pack([item, item]);
    const one = (good.length - 2) / 2 / 2;
    // Cut inside the second item's header: 68 header bytes are needed at offset `one`.
    await expectRevert(harness.packedForm(payee, signature, good.slice(0, 2 + 2 * (one + 40))), harness, "PackedBatchMalformed", [BigInt(one)]);
    // One byte of the second item's output missing.
    await expectRevert(harness.packedForm(payee, signature, good.slice(0, -2)), harness, "PackedBatchMalformed", [BigInt(one + 68)]);
    // A trailing byte: read as the start of a third item, too short for its header.
    await expectRevert(harness.packedForm(payee, signature, good + "00"), harness, "PackedBatchMalformed", [BigInt(2 * one)]);
    // An output length of 65,535 with 10 bytes behind it.
    const overflow = concat([item.requestId, item.outputHash, "0xffff", "0x0000", item.output]);
    await expectRevert(harness.packedForm(payee, signature, overflow), harness, "PackedBatchMalformed", [68n]);
  });

  it("measures both forms at batch 32 (no inline outputs, as bench/gas.ts submits)", async () => {
    const rand = seededRandom(17);
    const items: Item[] = Array.from({ length: 32 }, () => ({ requestId: bytesOf(rand, 32), outputHash: bytesOf(rand, 32), output: "0x", proof: "0x" }));
    const abiGas = Number(await harness.abiForm.estimateGas({ payee, signature, items }));
    const packedGas = Number(await harness.packedForm.estimateGas(payee, signature, pack(items)));
    const perItem = (abiGas - packedGas) / 32;
    const calldataGas = (data: string) => {
      const b = Buffer.from(data.slice(2), "hex");
      return b.reduce((a, x) => a + (x === 0 ? 4 : 16), 0);
    };
    const abiData = harness.interface.encodeFunctionData("abiForm", [{ payee, signature, items }]);
    const packedData = harness.interface.encodeFunctionData("packedForm", [payee, signature, pack(items)]);
    const calldataPerItem = (calldataGas(abiData) - calldataGas(packedData)) / 32;
    console.log(
      `batch read @32: ABI form ${abiGas} gas, packed ${packedGas} gas (calldata included): packed saves ${perItem.toFixed(0)} per item, ` +
        `${calldataPerItem.toFixed(0)} of it calldata, ${(perItem - calldataPerItem).toFixed(0)} execution`,
    );
    expect(packedGas).toBeLessThan(abiGas);
  });
});
