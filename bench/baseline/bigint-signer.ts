/**
 * An older implementation of the worker signer's digest signing, deliberately kept ONLY as the
 * baseline that bench/signer.ts measures worker/signer.ts against: RFC 6979 nonce with Node HMAC, k·G by OpenSSL ECDH, and the rest in
 * BigInt arithmetic with a variable-time extended-Euclid nonce inverse (a timing side channel on the
 * staked key). The EIP-712 digests are worker/signer.ts's own; only `signDigest` differs. Never
 * import this from a service.
 */
import { createECDH, createHmac, type ECDH } from "node:crypto";
import type { Hex } from "../../protocol/index.js";
import { FastSigner } from "../../worker/index.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

function toBig(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`);
}

function to32(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(64, "0"), "hex");
}

function mod(a: bigint): bigint {
  const r = a % N;
  return r >= 0n ? r : r + N;
}

/** Modular inverse mod N (extended Euclid; N is prime and 0 < a < N). */
function invert(a: bigint): bigint {
  let [x0, x1, r0, r1] = [0n, 1n, N, a];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [x0, x1] = [x1, x0 - q * x1];
  }
  return mod(x0);
}

/** Writes a 0x-prefixed 32-byte hex word into `buf` at `offset`; throws unless it is exactly one. */
export class BigIntSigner extends FastSigner {
  private readonly d: bigint;
  private readonly x: Buffer;
  private readonly ecdh: ECDH = createECDH("secp256k1");

  constructor(privateKey: string) {
    super(privateKey);
    this.x = Buffer.from(privateKey.slice(2), "hex");
    this.d = toBig(this.x);
  }

  /** Deterministic (RFC 6979) low-s secp256k1 signature of a 32-byte digest: r ‖ s ‖ v (27/28). */
  override signDigest(digest: Uint8Array): Hex {
    if (digest.byteLength !== 32) throw new TypeError("digest must be 32 bytes");
    const z = mod(toBig(digest)); // bits2int_modN: a 256-bit hash is its own bits2int
    const h1 = to32(z);
    const hmac = (key: Buffer, ...parts: Uint8Array[]): Buffer => {
      const h = createHmac("sha256", key);
      for (const p of parts) h.update(p);
      return h.digest();
    };
    let v: Buffer = Buffer.alloc(32, 1);
    let k: Buffer = Buffer.alloc(32, 0);
    k = hmac(k, v, ZERO_BYTE, this.x, h1);
    v = hmac(k, v);
    k = hmac(k, v, ONE_BYTE, this.x, h1);
    v = hmac(k, v);
    for (;;) {
      v = hmac(k, v);
      const nonce = toBig(v);
      if (nonce > 0n && nonce < N) {
        this.ecdh.setPrivateKey(v);
        const point = this.ecdh.getPublicKey(); // 0x04 ‖ X ‖ Y of nonce·G
        const rx = toBig(point.subarray(1, 33));
        const r = mod(rx);
        if (r !== 0n) {
          let s = mod(invert(nonce) * mod(z + r * this.d));
          if (s !== 0n) {
            let recovery = (rx === r ? 0 : 2) | (point[64]! & 1);
            if (s > HALF_N) {
              s = N - s;
              recovery ^= 1;
            }
            // ethers: v = recovery ? 28 : 27
            return `0x${r.toString(16).padStart(64, "0")}${s.toString(16).padStart(64, "0")}${recovery !== 0 ? "1c" : "1b"}`;
          }
        }
      }
      k = hmac(k, v, ZERO_BYTE);
      v = hmac(k, v);
    }
  }
}

const ZERO_BYTE = Uint8Array.of(0);
const ONE_BYTE = Uint8Array.of(1);
