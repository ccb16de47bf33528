/**
 * The worker signer as it was before issue 12 (finding 8), kept ONLY as the baseline for
 * bench/signer.ts: RFC 6979 nonce with Node HMAC, k·G by OpenSSL ECDH, and the rest in BigInt
 * arithmetic with a variable-time extended-Euclid nonce inverse (a timing side channel on the
 * staked key). Never import this from a service.
 */
import { createECDH, createHmac, type ECDH } from "node:crypto";
import { keccak256, TypedDataEncoder, Wallet, type TypedDataDomain } from "ethers";
import { REJECTION_TYPES, RESULT_TYPES, type RejectionStatement, type ResultStatement } from "../../protocol/eip712.js";
import type { Hex } from "../../protocol/types.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

const RESULT_TYPEHASH = Buffer.from(keccak256(Buffer.from(TypedDataEncoder.from(RESULT_TYPES).encodeType("Result"))).slice(2), "hex");
const REJECTION_TYPEHASH = Buffer.from(keccak256(Buffer.from(TypedDataEncoder.from(REJECTION_TYPES).encodeType("Rejection"))).slice(2), "hex");

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
function putWord(buf: Buffer, offset: number, hex: string, what: string): void {
  if (hex.length !== 66 || buf.write(hex.slice(2), offset, 32, "hex") !== 32) throw new TypeError(`${what} must be a 0x-prefixed 32-byte hex string`);
}

export class FastSigner {
  readonly address: string;
  private readonly d: bigint;
  private readonly x: Buffer;
  private readonly ecdh: ECDH = createECDH("secp256k1");
  private readonly separators = new WeakMap<TypedDataDomain, Buffer>();

  constructor(privateKey: string) {
    this.address = new Wallet(privateKey).address;
    this.x = Buffer.from(privateKey.slice(2), "hex");
    this.d = toBig(this.x);
    if (this.x.length !== 32 || this.d <= 0n || this.d >= N) throw new TypeError("invalid secp256k1 private key");
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

  /** The EIP-712 digest of a Result (equals protocol/eip712.ts resultDigest). */
  resultDigest(domain: TypedDataDomain, r: ResultStatement): Hex {
    return `0x${this.resultDigestBytes(domain, r).toString("hex")}`;
  }

  private resultDigestBytes(domain: TypedDataDomain, r: ResultStatement): Buffer {
    const struct = Buffer.allocUnsafe(6 * 32);
    RESULT_TYPEHASH.copy(struct, 0);
    putWord(struct, 32, r.requestId, "requestId");
    putWord(struct, 64, r.modelHash, "modelHash");
    putWord(struct, 96, r.inputHash, "inputHash");
    putWord(struct, 128, r.outputHash, "outputHash");
    putWord(struct, 160, r.traceRoot, "traceRoot");
    return this.typedDigest(domain, struct);
  }

  /** Same signature as `signResult(wallet, domain, r)` (protocol/eip712.ts). */
  signResult(domain: TypedDataDomain, r: ResultStatement): Hex {
    return this.signDigest(this.resultDigestBytes(domain, r));
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
