/**
 * Byte quotas of the relayer's blob store: without them one client can upload 384 MiB in
 * 4.3 s, and with a per-address budget a fresh address (127.0.0.2) gets a fresh budget. Here: the key a client's budget is
 * counted under (every loopback address is one client, an IPv6 address counts as its /64), and a
 * per-key byte budget over a rolling window.
 */

/** 0..65535 for each of the 8 groups of an IPv6 address; undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let a = address.toLowerCase();
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  if (!a.includes(":")) return undefined;
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4 !== null) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const halves = a.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0 || (halves.length === 1 && head.length !== 8)) return undefined;
  const groups = [...head, ...Array<string>(fill).fill("0"), ...tail].map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN));
  return groups.length === 8 && groups.every((g) => Number.isFinite(g)) ? groups : undefined;
}

/**
 * The key a client's upload budget is counted under: every loopback address (127.0.0.0/8, ::1)
 * is one client, an IPv4-mapped IPv6 address is its IPv4 address, any other IPv6 address counts as
 * its /64 (one host usually holds a whole /64), an IPv4 address as itself.
 */
export function clientKey(address: string): string {
  const groups = ipv6Groups(address);
  if (groups === undefined) {
    if (/^127\.\d+\.\d+\.\d+$/.test(address)) return "loopback";
    return address.slice(0, 64);
  }
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return "loopback";
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const v4 = `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
    return clientKey(v4);
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

export interface ByteBudgetOptions {
  /** Bytes one key may upload within `windowMs`. */
  bytes: number;
  /** Length of the rolling window. */
  windowMs: number;
  /** Most keys tracked; the least recently seen is forgotten first. */
  maxClients?: number;
}

/** Bytes charged per key over a rolling window; least recently used keys first in the map. */
export class ByteBudget {
  private readonly clients = new Map<string, { at: number; bytes: number }[]>();
  private readonly maxClients: number;

  constructor(private readonly options: ByteBudgetOptions) {
    this.maxClients = options.maxClients ?? 10_000;
  }

  /**
   * Charges `bytes` to `key` when they fit its budget and returns 0; otherwise charges nothing and
   * returns the ms until they would fit (the whole window when they never can).
   */
  take(key: string, bytes: number, now: number): number {
    const { windowMs } = this.options;
    let entries = this.clients.get(key);
    if (entries === undefined) {
      if (this.clients.size >= this.maxClients) {
        const oldest = this.clients.keys().next().value;
        if (oldest !== undefined) this.clients.delete(oldest);
      }
      entries = [];
    } else {
      this.clients.delete(key);
    }
    this.clients.set(key, entries);
    while (entries.length > 0 && entries[0]!.at + windowMs <= now) entries.shift();
    if (bytes > this.options.bytes) return windowMs;
    let used = entries.reduce((sum, e) => sum + e.bytes, 0);
    if (used + bytes <= this.options.bytes) {
      entries.push({ at: now, bytes });
      return 0;
    }
    for (const e of entries) {
      used -= e.bytes;
      if (used + bytes <= this.options.bytes) return Math.max(1, e.at + windowMs - now);
    }
    return windowMs;
  }

  /** Bytes `key` has used in the current window. */
  used(key: string, now: number): number {
    return (this.clients.get(key) ?? []).filter((e) => e.at + this.options.windowMs > now).reduce((sum, e) => sum + e.bytes, 0);
  }
}
