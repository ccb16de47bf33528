/**
 * Signed requests to the relayer's blob store (issue 13, finding 5): a worker signs with its staked
 * signer key, a challenger with a key the relayer lists (`api.blobIdentities`). The relayer then keys
 * budgets and rate limits by that identity instead of by network address, so a flood from the
 * worker's or challenger's address (or a shared NAT) cannot starve it, and an upload it cannot
 * attribute to a known party gets no exemption.
 *
 * Header `x-oracle-auth: v1:<address>:<unix ms>:<signature>`, the signature an EIP-191 personal
 * message over
 *
 *   oracle blob store v1
 *   <METHOD> <path>
 *   <content-length or ->
 *   <unix ms>
 *
 * accepted within `maxSkewMs` (60 s) of the relayer's clock. A PUT names the content by its hash in
 * the path, so a replayed header can only store the same bytes again; a POST's signature binds the
 * body's length.
 */
import { Wallet, verifyMessage } from "ethers";
import { BaseError } from "./errors.js";

export const BLOB_AUTH_HEADER = "x-oracle-auth";
export const BLOB_AUTH_MAX_SKEW_MS = 60_000;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

function statement(method: string, path: string, contentLength: number | undefined, at: number): string {
  return `oracle blob store v1\n${method.toUpperCase()} ${path}\n${contentLength === undefined ? "-" : String(contentLength)}\n${at}`;
}

/** A signer for blob-store requests: a wallet made once from the key (signing is ~1 ms). */
export class BlobAuth {
  private readonly wallet: Wallet;

  constructor(privateKey: string) {
    this.wallet = new Wallet(privateKey);
  }

  get address(): string {
    return this.wallet.address;
  }

  /** The header value for `method` on `path` (the URL's pathname, no query). */
  header(method: string, path: string, contentLength?: number, now = Date.now()): string {
    return `v1:${this.wallet.address}:${now}:${this.wallet.signMessageSync(statement(method, path, contentLength, now))}`;
  }
}

/** The signer's address (lower case) of a valid header, or AUTH_INVALID saying why not. */
export function verifyBlobAuth(value: string, method: string, path: string, contentLength: number | undefined, now = Date.now(), maxSkewMs = BLOB_AUTH_MAX_SKEW_MS): string {
  const parts = value.split(":");
  if (parts.length !== 4 || parts[0] !== "v1" || !ADDRESS_RE.test(parts[1]!) || !/^\d{1,16}$/.test(parts[2]!) || !/^0x[0-9a-fA-F]{130}$/.test(parts[3]!)) {
    throw new BaseError("AUTH_INVALID", `malformed ${BLOB_AUTH_HEADER} header (v1:<address>:<unix ms>:<signature>)`);
  }
  const at = Number(parts[2]);
  if (Math.abs(now - at) > maxSkewMs) {
    throw new BaseError("AUTH_INVALID", `the signed request is ${Math.round((now - at) / 1000)} s from the relayer's clock (at most ${maxSkewMs / 1000} s)`);
  }
  let signer: string;
  try {
    signer = verifyMessage(statement(method, path, contentLength, at), parts[3]!);
  } catch (cause) {
    throw new BaseError("AUTH_INVALID", "the request's signature does not verify", { cause });
  }
  if (signer.toLowerCase() !== parts[1]!.toLowerCase()) throw new BaseError("AUTH_INVALID", "the request's signature is not by the address it names");
  return signer.toLowerCase();
}

/** Request headers that sign each GET to `storeUrl`'s origin as `auth` (nothing for any other origin a redirect leads to). */
export function signedGetHeaders(auth: BlobAuth | undefined, storeUrl: string): ((url: URL) => Record<string, string>) | undefined {
  if (auth === undefined) return undefined;
  const origin = new URL(storeUrl).origin;
  return (url): Record<string, string> => (url.origin === origin ? { [BLOB_AUTH_HEADER]: auth.header("GET", url.pathname) } : {});
}
