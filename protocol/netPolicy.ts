/**
 * The address policy every outbound fetch of an untrusted URI obeys (protocol/fetch.ts): request
 * inputs and model files named by requesters and registrants, and every redirect they answer with.
 * A URI may name a host that resolves to the worker's own network; without this policy a requester
 * made a worker call a loopback admin endpoint (`GET /admin/delete-all?confirm=1`) and read its answer
 * back from the public rejection.
 *
 * Blocked unless allowed (IPv4, IPv6, and IPv4 inside IPv6: v4-mapped, v4-compatible, NAT64, 6to4):
 * unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7),
 * link-local and cloud metadata (169.254/16, fe80::/10), CGNAT (100.64/10, where some clouds put
 * metadata too), benchmarking, documentation and reserved ranges, multicast (224/4, ff00::/8) and
 * broadcast. The check runs **after DNS resolution, at connect time**, on the address the socket
 * actually uses (a custom `lookup`), so a name that resolves to a private address, or re-resolves
 * to one after a check (DNS rebinding), is refused as well as an IP literal.
 *
 * Exceptions are explicit: `allowedAddresses` (CIDRs, for local development: `oracle dev`, the demo
 * and the tests set 127.0.0.0/8 and ::1) and `trustedOrigins` (exact origins the operator configured,
 * such as its own relayer's blob store, which may live on a private network).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { OracleError } from "./errors.js";

export interface AddressPolicy {
  /** CIDRs or single addresses that may be reached although they are not public (e.g. "127.0.0.0/8", "::1"). */
  allowedAddresses?: readonly string[];
  /** Exact origins (scheme://host[:port]) trusted as configured by the operator: not checked. */
  trustedOrigins?: readonly string[];
}

const BLOCKED_V4: Array<[string, number]> = [
  ["0.0.0.0", 8], // "this" network, unspecified
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // CGNAT (Alibaba's metadata is 100.100.100.200)
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata (169.254.169.254)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
];
const BLOCKED_V6: Array<[string, number]> = [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local (private; fd00:ec2::254 is AWS metadata)
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
];

const blocked = new BlockList();
for (const [net, prefix] of BLOCKED_V4) blocked.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of BLOCKED_V6) blocked.addSubnet(net, prefix, "ipv6");

/** The 16 bytes of an IPv6 address (any textual form node accepts). */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.split("%")[0]!;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const parts = v4[1]!.split(".").map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const r = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups = rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - r.length).fill("0"), ...r];
  if (groups.length !== 8) return undefined;
  for (const g of groups) {
    const n = parseInt(g, 16);
    tail.push((n >> 8) & 0xff, n & 0xff);
  }
  return tail;
}

/** The IPv4 address an IPv6 address carries (v4-mapped, v4-compatible, NAT64, 6to4), if any. */
function embeddedV4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (b === undefined) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 12) && !(zero(12, 15) && (b[15] === 0 || b[15] === 1))) return v4(12); // ::a.b.c.d (deprecated)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // 64:ff9b::/96 NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002:a.b.c.d::/16 6to4
  return undefined;
}

function matches(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 4) return list.check(address, "ipv4");
  if (family === 6) {
    const inner = embeddedV4(address);
    return list.check(address.split("%")[0]!, "ipv6") || (inner !== undefined && list.check(inner, "ipv4"));
  }
  return false;
}

/** Whether `address` (an IP literal) is one no untrusted fetch may reach by default. */
export function isForbiddenAddress(address: string): boolean {
  if (isIP(address) === 0) return true; // not an address at all
  return matches(blocked, address);
}

function allowList(policy: AddressPolicy): BlockList | undefined {
  const list = policy.allowedAddresses ?? [];
  if (list.length === 0) return undefined;
  const allow = new BlockList();
  for (const entry of list) {
    const [net, bits] = entry.trim().split("/") as [string, string | undefined];
    const family = isIP(net);
    if (family === 0) throw new OracleError("CONFIG_INVALID", `allowed address ${JSON.stringify(entry)} is not an IP address or CIDR`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (bits === undefined) allow.addAddress(net, type);
    else allow.addSubnet(net, Number(bits), type);
  }
  return allow;
}

/** A policy compiled once per fetch: `allows(address)` and a guarded DNS lookup. */
export class CompiledAddressPolicy {
  private readonly allow: BlockList | undefined;
  private readonly trusted: Set<string>;

  constructor(policy: AddressPolicy = {}) {
    this.allow = allowList(policy);
    this.trusted = new Set((policy.trustedOrigins ?? []).map((o) => new URL(o).origin));
  }

  /** Whether a URL's origin is one the operator configured (no address check). */
  trusts(url: URL): boolean {
    return this.trusted.has(url.origin);
  }

  allows(address: string): boolean {
    if (!isForbiddenAddress(address)) return true;
    return this.allow !== undefined && matches(this.allow, address);
  }

  /** A `lookup` for net/http that resolves every address of a name and refuses if any is forbidden. */
  lookup(): LookupFunction {
    return ((hostname: string, options: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
      dnsLookup(hostname, { all: true, ...(options.family ? { family: options.family } : {}) }, (error, addresses: LookupAddress[]) => {
        if (error !== null) return callback(error);
        const denied = addresses.find((a) => !this.allows(a.address));
        if (denied !== undefined || addresses.length === 0) return callback(forbiddenAddress());
        if (options.all === true) return callback(null, addresses);
        return callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    }) as unknown as LookupFunction;
  }
}

/** The error for a refused address: it names neither the address nor the port. */
export function forbiddenAddress(): OracleError {
  return new OracleError("INPUT_UNAVAILABLE", "the URI's host resolves to an address this fetch may not reach (loopback, private, link-local, metadata or reserved)", {
    details: { reason: "address-not-allowed" },
    retryable: false,
  });
}

/** Addresses for local development: loopback only. */
export const LOOPBACK_ADDRESSES: readonly string[] = ["127.0.0.0/8", "::1"];
