/**
 * EIP-712 signing for the hot path, byte-identical to ethers' `Wallet.signTypedData`.
 *
 * The staked key is used only by `@noble/curves` secp256k1 (audited; pinned in package.json):
 * RFC 6979 deterministic nonce, k·G by a precomputed fixed-window table with constant-time point
 * selection, low-s normalisation, recovery bit. Signature arithmetic done in BigInt with a
 * variable-time extended-Euclid nonce inverse is a timing side channel on the staked key
 * (bench/baseline/bigint-signer.ts keeps such a signer only as the baseline bench/signer.ts compares
 * against in one run).
 *
 * What stays fast here is the digest: the domain separator once per domain, the type hash once, and
 * the struct hash as one keccak over 32-byte words (no TypedDataEncoder walk). The signature is the
 * same deterministic signature ethers produces (test/worker/signer.test.ts checks it against ethers
 * on many random keys and statements).
 *
 * Limits, as noble states them: JavaScript BigInt field arithmetic is not constant time, so noble
 * targets "algorithmic constant time" (no secret-dependent branches or table indices in k·G, the
 * operation that dominates). noble's own `sign` would invert the nonce with a variable-time
 * extended Euclid (abstract/modular.ts `invert`), exactly that side channel, so `signDigest`
 * assembles the signature from noble's parts instead: the RFC 6979 nonce exactly as noble and ethers
 * derive it (HMAC-DRBG, below), k·G by noble, and a blinded inverse k^-1 = b·(k·b)^-1 with a fresh
 * random b, so the Euclid only ever sees k·b, a value independent of k. The key never leaves this
 * object.
 */
import { createHmac, randomBytes } from "node:crypto";
import { invert, mod } from "@noble/curves/abstract/modular";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak256, TypedDataEncoder, Wallet, type TypedDataDomain } from "ethers";
import { REJECTION_TYPES, RESULT_BATCH_TYPES, type BatchStatement, type RejectionStatement, type Hex } from "../protocol/index.js";

const RESULT_BATCH_TYPEHASH = Buffer.from(keccak256(Buffer.from(TypedDataEncoder.from(RESULT_BATCH_TYPES).encodeType("ResultBatch"))).slice(2), "hex");
const REJECTION_TYPEHASH = Buffer.from(keccak256(Buffer.from(TypedDataEncoder.from(REJECTION_TYPES).encodeType("Rejection"))).slice(2), "hex");

// A wider window for G than noble's default (8 bits: 256 points per window, built once, ~30 ms):
// fewer point additions per signature, and selection stays constant time.
secp256k1.utils.precompute(8);

const N = secp256k1.CURVE.n;
const HALF_N = N >> 1n;
const toBig = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString("hex") || "0"}`);
const word = (x: bigint): Buffer => Buffer.from(x.toString(16).padStart(64, "0"), "hex");
const hmac = (key: Buffer, ...parts: Uint8Array[]): Buffer => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
};
const ZERO = Uint8Array.of(0);
const ONE = Uint8Array.of(1);

/** Writes a 0x-prefixed 32-byte hex word into `buf` at `offset`; throws unless it is exactly one. */
function putWord(buf: Buffer, offset: number, hex: string, what: string): void {
  if (hex.length !== 66 || buf.write(hex.slice(2), offset, 32, "hex") !== 32) throw new TypeError(`${what} must be a 0x-prefixed 32-byte hex string`);
}

/** Writes a 0x-prefixed 20-byte address as a left-padded 32-byte word (`buf` zeroed there). */
function putAddress(buf: Buffer, offset: number, hex: string, what: string): void {
  if (hex.length !== 42 || buf.write(hex.slice(2), offset + 12, 20, "hex") !== 20) throw new TypeError(`${what} must be a 0x-prefixed 20-byte address`);
}

export class FastSigner {
  readonly address: string;
  private readonly key: Uint8Array;
  private readonly keyScalar: bigint;
  private readonly separators = new WeakMap<TypedDataDomain, Buffer>();

  constructor(privateKey: string) {
    this.address = new Wallet(privateKey).address;
    const key = Buffer.from(privateKey.slice(2), "hex");
    if (key.length !== 32 || !secp256k1.utils.isValidPrivateKey(key)) throw new TypeError("invalid secp256k1 private key");
    this.key = Uint8Array.from(key);
    this.keyScalar = toBig(key);
  }

  private separator(domain: TypedDataDomain): Buffer {
    let s = this.separators.get(domain);
    if (s === undefined) {
      s = Buffer.from(TypedDataEncoder.hashDomain(domain).slice(2), "hex");
      this.separators.set(domain, s);
    }
    return s;
  }

  private typedDigest(domain: TypedDataDomain, struct: Buffer): Buffer {
    const buf = Buffer.allocUnsafe(66);
    buf[0] = 0x19;
    buf[1] = 0x01;
    this.separator(domain).copy(buf, 2);
    Buffer.from(keccak256(struct).slice(2), "hex").copy(buf, 34);
    return Buffer.from(keccak256(buf).slice(2), "hex");
  }

  /** The EIP-712 digest of a ResultBatch (equals protocol/eip712.ts batchDigest). */
  batchDigest(domain: TypedDataDomain, b: BatchStatement): Hex {
    return `0x${this.batchDigestBytes(domain, b).toString("hex")}`;
  }

  private batchDigestBytes(domain: TypedDataDomain, b: BatchStatement): Buffer {
    const struct = Buffer.alloc(3 * 32);
    RESULT_BATCH_TYPEHASH.copy(struct, 0);
    putWord(struct, 32, b.resultsRoot, "resultsRoot");
    putAddress(struct, 64, b.payee, "payee");
    return this.typedDigest(domain, struct);
  }

  /** Same signature as `signBatch(wallet, domain, b)` (protocol/eip712.ts): one per batch of results. */
  signBatch(domain: TypedDataDomain, b: BatchStatement): Hex {
    return this.signDigest(this.batchDigestBytes(domain, b));
  }

  /** Same signature as `signRejection(wallet, domain, r)` (protocol/eip712.ts). */
  signRejection(domain: TypedDataDomain, r: RejectionStatement): Hex {
    if (!Number.isInteger(r.reason) || r.reason < 0 || r.reason > 0xffff) throw new TypeError("reason must be a uint16");
    const struct = Buffer.alloc(3 * 32);
    REJECTION_TYPEHASH.copy(struct, 0);
    putWord(struct, 32, r.requestId, "requestId");
    struct.writeUInt16BE(r.reason, 94);
    return this.signDigest(this.typedDigest(domain, struct));
  }

  /** Deterministic (RFC 6979) low-s secp256k1 signature of a 32-byte digest: r ‖ s ‖ v (27/28). */
  signDigest(digest: Uint8Array): Hex {
    if (digest.byteLength !== 32) throw new TypeError("digest must be 32 bytes");
    // RFC 6979 §3.2 with HMAC-SHA256, as noble's sign (no extra entropy) and ethers: the digest as an
    // integer mod n, the key and that integer as 32-byte octets seed the DRBG.
    const z = mod(toBig(digest), N);
    const seed = [this.key, word(z)];
    let K: Buffer = Buffer.alloc(32, 0);
    let V: Buffer = Buffer.alloc(32, 1);
    K = hmac(K, V, ZERO, ...seed);
    V = hmac(K, V);
    K = hmac(K, V, ONE, ...seed);
    V = hmac(K, V);
    for (;;) {
      V = hmac(K, V);
      const k = toBig(V);
      if (k >= 1n && k < N) {
        const q = secp256k1.ProjectivePoint.BASE.multiply(k).toAffine();
        const r = mod(q.x, N);
        if (r !== 0n) {
          // Blinded inverse: the variable-time Euclid inverts k·b, not k.
          const b = mod(toBig(randomBytes(48)), N - 1n) + 1n;
          const kInv = mod(b * invert(mod(k * b, N), N), N);
          let s = mod(kInv * mod(z + r * this.keyScalar, N), N);
          if (s !== 0n) {
            let recovery = (q.x === r ? 0 : 2) | Number(q.y & 1n);
            // low s (EIP-2), flipping the recovery bit with it
            if (s > HALF_N) {
              s = N - s;
              recovery ^= 1;
            }
            return `0x${word(r).toString("hex")}${word(s).toString("hex")}${(recovery & 1) !== 0 ? "1c" : "1b"}`;
          }
        }
      }
      // k out of range, r or s zero (probability ~2^-128): the DRBG's next candidate, as RFC 6979 says.
      K = hmac(K, V, ZERO);
      V = hmac(K, V);
    }
  }
}
