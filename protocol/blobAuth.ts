/**
 * Signed requests to the relayer's blob store: a worker signs with its staked
 * signer key, a challenger with a key the relayer lists (`api.blobIdentities`). The relayer then keys
 * budgets and rate limits by that identity instead of by network address, so a flood from the
 * worker's or challenger's address (or a shared NAT) cannot starve it, and an upload it cannot
 * attribute to a known party gets no exemption.
 *
 * Header `x-oracle-auth: v1:<address>:<unix ms>:<signature>`, the signature an EIP-191 personal
 * message over "oracle blob store v1\n<unix ms>": a short-lived token, accepted within `maxSkewMs`
 * (60 s) of its time. A client signs one every `REFRESH_MS` (30 s) and sends it with every request
 * meanwhile: a whole trace's hundreds of uploads cost one signature (1.8 ms) instead of one each,
 * and the relayer verifies a token once (6.9 ms of ecrecover on this host) and then finds it in a
 * cache. Requests go over TLS in production: a token read off the wire could be replayed for its
 * minute, against its owner's own budget, to store well-formed tensors under their own hashes.
 */
import { Wallet, verifyMessage } from "ethers";
import { OracleError } from "./errors.js";
import { ADDRESS_PATTERN, SIGNATURE_PATTERN } from "./hex.js";

export const BLOB_AUTH_HEADER = "x-oracle-auth";
export const BLOB_AUTH_MAX_SKEW_MS = 60_000;
/** How long a client reuses one token. */
const REFRESH_MS = 30_000;

function statement(at: number): string {
  return `oracle blob store v1\n${at}`;
}

/** A signer for blob-store requests: a wallet made once from the key, a token signed every 30 s. */
export class BlobAuth {
  private readonly wallet: Wallet;
  private cached: { value: string; at: number } | undefined;

  constructor(privateKey: string) {
    this.wallet = new Wallet(privateKey);
  }

  get address(): string {
    return this.wallet.address;
  }

  /** The header value: the current token (re-signed when older than 30 s, or for an explicit `now`). */
  header(now = Date.now()): string {
    if (this.cached === undefined || now - this.cached.at >= REFRESH_MS || now < this.cached.at) {
      this.cached = { value: `v1:${this.wallet.address}:${now}:${this.wallet.signMessageSync(statement(now))}`, at: now };
    }
    return this.cached.value;
  }
}

/** Parses a header and checks its time (cheap); undefined when malformed or stale, with the reason. */
export function parseBlobAuth(value: string, now = Date.now(), maxSkewMs = BLOB_AUTH_MAX_SKEW_MS): { address: string; at: number; signature: string } {
  const parts = value.split(":");
  if (parts.length !== 4 || parts[0] !== "v1" || !ADDRESS_PATTERN.test(parts[1]!) || !/^\d{1,16}$/.test(parts[2]!) || !SIGNATURE_PATTERN.test(parts[3]!)) {
    throw new OracleError("AUTH_INVALID", `malformed ${BLOB_AUTH_HEADER} header (v1:<address>:<unix ms>:<signature>)`);
  }
  const at = Number(parts[2]);
  if (Math.abs(now - at) > maxSkewMs) {
    throw new OracleError("AUTH_INVALID", `the signed token is ${Math.round((now - at) / 1000)} s from the relayer's clock (at most ${maxSkewMs / 1000} s)`);
  }
  return { address: parts[1]!.toLowerCase(), at, signature: parts[3]! };
}

/** The signer's address (lower case) of a valid header, or AUTH_INVALID saying why not. Costs an ecrecover: cache the result. */
export function verifyBlobAuth(value: string, now = Date.now(), maxSkewMs = BLOB_AUTH_MAX_SKEW_MS): string {
  const { address, at, signature } = parseBlobAuth(value, now, maxSkewMs);
  let signer: string;
  try {
    signer = verifyMessage(statement(at), signature);
  } catch (cause) {
    throw new OracleError("AUTH_INVALID", "the token's signature does not verify", { cause });
  }
  if (signer.toLowerCase() !== address) throw new OracleError("AUTH_INVALID", "the token's signature is not by the address it names");
  return address;
}

/** Request headers that sign each GET to `storeUrl`'s origin as `auth` (nothing for any other origin a redirect leads to). */
export function signedGetHeaders(auth: BlobAuth | undefined, storeUrl: string): ((url: URL) => Record<string, string>) | undefined {
  if (auth === undefined) return undefined;
  const origin = new URL(storeUrl).origin;
  return (url): Record<string, string> => (url.origin === origin ? { [BLOB_AUTH_HEADER]: auth.header() } : {});
}
