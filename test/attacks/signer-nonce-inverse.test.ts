/**
 * Issue 12, finding 8 ("timing side channel"). Before: worker/signer.ts signed with the staked key in
 * BigInt arithmetic with a variable-time extended-Euclid nonce inverse: the time of k^-1 depends on the
 * nonce k, and a few bits of many nonces are enough for a lattice attack on the key. noble 1.9's own
 * `sign` inverts k with the same kind of Euclid (abstract/modular `invert`).
 * Now: the signer inverts only k·b for a fresh random b (k^-1 = b·(k·b)^-1). The attack looks for what
 * the timing would reveal: every value the signer hands to the variable-time inverse is recorded (the
 * real `invert` still runs), k is recovered from each signature and the key, and no recorded value may
 * be k or n - k; the signatures stay byte-identical to ethers'.
 */
import { describe, it, expect, vi } from "vitest";
import { SigningKey, hexlify, randomBytes } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1";

const seen = vi.hoisted(() => ({ args: [] as bigint[] }));
vi.mock("@noble/curves/abstract/modular", async (importOriginal) => {
  const real = await importOriginal<typeof import("@noble/curves/abstract/modular")>();
  return {
    ...real,
    invert: (a: bigint, m: bigint) => {
      seen.args.push(real.mod(a, m));
      return real.invert(a, m);
    },
  };
});

const { FastSigner } = await import("../../worker/signer.js");
const N = secp256k1.CURVE.n;

function powMod(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}

describe("finding 8: the signer never inverts the nonce itself", () => {
  it("test_signDigest_valuesInverted_neverTheNonce_succeeds", () => {
    for (let i = 0; i < 20; i++) {
      const key = hexlify(randomBytes(32));
      const d = BigInt(key);
      const signer = new FastSigner(key);
      for (let j = 0; j < 10; j++) {
        const digest = randomBytes(32);
        seen.args.length = 0;
        const sig = signer.signDigest(digest);
        expect(sig).toBe(new SigningKey(key).sign(digest).serialized);
        // The hook sees the signer's inversions: exactly one per signature.
        expect(seen.args.length).toBe(1);
        // k from the signature: s = k^-1 (z + r·d), so k = s^-1 (z + r·d), up to the low-s negation.
        const r = BigInt(`0x${sig.slice(2, 66)}`);
        const s = BigInt(`0x${sig.slice(66, 130)}`);
        const z = BigInt(hexlify(digest)) % N;
        const k = (powMod(s, N - 2n, N) * ((z + r * d) % N)) % N;
        // (Sanity: k·G has x = r, so this is the nonce.)
        expect(secp256k1.ProjectivePoint.BASE.multiply(k).toAffine().x % N).toBe(r);
        for (const a of seen.args) {
          expect(a === k || a === N - k, `nonce handed to the variable-time inverse (key ${i}, digest ${j})`).toBe(false);
        }
      }
    }
  });

  it("test_signDigest_blinding_deterministicSignature_succeeds", () => {
    // The blinding factor is random, the signature is not (RFC 6979, as ethers).
    const key = hexlify(randomBytes(32));
    const signer = new FastSigner(key);
    const digest = randomBytes(32);
    seen.args.length = 0;
    const a = signer.signDigest(digest);
    const b = signer.signDigest(digest);
    expect(a).toBe(b);
    expect(seen.args[0]).not.toBe(seen.args[1]);
  });
});
