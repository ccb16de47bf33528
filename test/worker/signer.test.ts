/**
 * worker/signer.ts signs with the staked key through @noble/curves secp256k1 (issue 12, finding 8).
 * Its signatures must stay byte-identical to ethers' (RFC 6979 nonce, low s, v = 27/28): the oracle,
 * the relayer and every test vector were written against ethers' output.
 */
import { describe, expect, it } from "vitest";
import { SigningKey, Wallet, hexlify, randomBytes, recoverAddress } from "ethers";
import { batchDigest, oracleDomain, signBatch, signRejection, recoverResultBatchSigner, resultsRoot, type RequestId } from "../../protocol/index.js";
import { FastSigner } from "../../worker/signer.js";
import { ORACLE, randomHash } from "./fixtures.js";

describe("FastSigner (noble secp256k1)", () => {
  it("test_signDigest_manyKeysAndDigests_matchesEthers_succeeds", () => {
    // 100 keys x 10 digests, including edge digests (zero, all ones, above the group order).
    const edge = [`0x${"00".repeat(32)}`, `0x${"ff".repeat(32)}`, `0x${"ff".repeat(16)}${"00".repeat(16)}`];
    let highS = 0;
    for (let i = 0; i < 100; i++) {
      const key = hexlify(randomBytes(32));
      const ref = new SigningKey(key);
      const fast = new FastSigner(key);
      for (let j = 0; j < 10; j++) {
        const digest = j < edge.length && i % 10 === 0 ? edge[j]! : hexlify(randomBytes(32));
        const sig = fast.signDigest(Buffer.from(digest.slice(2), "hex"));
        expect(sig).toBe(ref.sign(digest).serialized);
        expect(recoverAddress(digest, sig)).toBe(fast.address);
        // every s is in the lower half (EIP-2): the oracle rejects the malleable twin
        const s = BigInt(`0x${sig.slice(66, 130)}`);
        expect(s <= 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n).toBe(true);
        if (sig.endsWith("1c")) highS++;
      }
    }
    // both recovery parities occur (a constant v would mean the parity flip on low-s is lost)
    expect(highS).toBeGreaterThan(100);
    expect(highS).toBeLessThan(900);
  });

  it("test_signBatch_randomStatements_matchesEthersTypedData_succeeds", async () => {
    for (let i = 0; i < 40; i++) {
      const wallet = Wallet.createRandom();
      const fast = new FastSigner(wallet.privateKey);
      expect(fast.address).toBe(wallet.address);
      const domain = oracleDomain(BigInt(1 + i), ORACLE);
      // payee: a random address, or zero (the worker keeps the relayer share)
      const payee = i % 4 === 0 ? "0x0000000000000000000000000000000000000000" : Wallet.createRandom().address;
      const entries = Array.from({ length: 1 + (i % 9) }, () => ({ requestId: randomHash(), outputHash: randomHash() }));
      const st = { resultsRoot: resultsRoot(entries), payee };
      expect(fast.batchDigest(domain, st)).toBe(batchDigest(domain, st));
      const signature = fast.signBatch(domain, st);
      expect(signature).toBe(await signBatch(wallet, domain, st));
      expect(recoverResultBatchSigner(domain, { payee, signature, entries })).toBe(wallet.address);
      // Any changed entry recovers another address.
      const changed = entries.map((e, j) => (j === entries.length - 1 ? { ...e, outputHash: randomHash() } : e));
      expect(recoverResultBatchSigner(domain, { payee, signature, entries: changed })).not.toBe(wallet.address);
      const rej = { requestId: entries[0]!.requestId as RequestId, reason: (i * 977) % 0x10000 };
      expect(fast.signRejection(domain, rej)).toBe(await signRejection(wallet, domain, rej));
    }
  });

  it("test_signBatch_malformedStatement_throws", () => {
    const fast = new FastSigner(hexlify(randomBytes(32)));
    const domain = oracleDomain(1n, ORACLE);
    expect(() => fast.signBatch(domain, { resultsRoot: "0x12", payee: ORACLE })).toThrow(TypeError);
    expect(() => fast.signBatch(domain, { resultsRoot: randomHash(), payee: "0x12" })).toThrow(TypeError);
  });

  it("test_constructor_invalidKey_reverts", () => {
    expect(() => new FastSigner(`0x${"00".repeat(32)}`)).toThrow();
    expect(() => new FastSigner(`0x${"ff".repeat(32)}`)).toThrow();
    expect(() => new FastSigner("0x1234")).toThrow();
  });

  it("test_signDigest_wrongLength_reverts", () => {
    const fast = new FastSigner(hexlify(randomBytes(32)));
    expect(() => fast.signDigest(new Uint8Array(31))).toThrow(TypeError);
  });
});
