/**
 * Connection-level limits of the relayer's HTTP API: without them one address can hold 1,200
 * SSE streams and 200 slow-loris sockets. Here: who a client is (behind a trusted proxy or not), caps
 * on sockets overall and per address, and header / request / keep-alive timeouts on the server.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import type { Socket } from "node:net";

export interface ServerLimits {
  /** Sockets open at once, all clients together. */
  maxConnections: number;
  /** Sockets open at once from one address (a trusted proxy is exempt). */
  maxConnectionsPerAddress: number;
  /** A client must send its request headers within this long (slow loris). */
  headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this long. */
  requestTimeoutMs: number;
  /** An idle kept-alive socket is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Addresses of reverse proxies whose X-Forwarded-For is believed (as Node reports them). */
  trustProxy: readonly string[];
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  trustProxy: [],
};

/** "::ffff:10.0.0.7" and "10.0.0.7" are one client. */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy, in which case the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left are
 * written by the client and prove nothing).
 */
export function clientAddress(req: IncomingMessage, trustProxy: ReadonlySet<string>): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? "unknown");
  if (!trustProxy.has(peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : header ?? "")
    .split(",")
    .map((s) => normalizeAddress(s.trim()))
    .filter((s) => s !== "");
  for (let i = hops.length - 1; i >= 0; i--) if (!trustProxy.has(hops[i]!)) return hops[i]!.slice(0, 64);
  return peer;
}

/**
 * An HTTP server for `app` with the timeouts and the connection caps applied. Sockets over a cap are
 * destroyed at once. Node's own headers/request timeouts are set too, but its periodic check closed
 * only some of ten slow-loris sockets here (and runs every 30 s by default), so each socket also gets
 * its own timers: the first request's headers within `headersTimeoutMs`, each request's body within
 * `requestTimeoutMs`; idle kept-alive sockets close after `keepAliveTimeoutMs`.
 */
export function createLimitedServer(app: RequestListener, limits: ServerLimits): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    app,
  );
  server.maxConnections = limits.maxConnections;
  const proxies = new Set(limits.trustProxy.map(normalizeAddress));
  const perAddress = new Map<string, number>();
  const headerTimers = new WeakMap<Socket, NodeJS.Timeout>();
  server.on("request", (req: IncomingMessage) => {
    const socket = req.socket;
    clearTimeout(headerTimers.get(socket));
    headerTimers.delete(socket);
    if (req.complete) return;
    const timer = setTimeout(() => socket.destroy(), limits.requestTimeoutMs);
    timer.unref();
    // One close listener per request in flight, removed when it ends: a kept-alive socket serving many
    // requests must not pile them up (that leaked and warned MaxListenersExceededWarning in `npm run demo`).
    const onClose = () => clearTimeout(timer);
    socket.once("close", onClose);
    req.once("end", () => {
      clearTimeout(timer);
      socket.removeListener("close", onClose);
    });
  });
  server.on("connection", (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    headerTimers.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
    const address = normalizeAddress(socket.remoteAddress ?? "unknown");
    if (proxies.has(address)) return;
    const open = (perAddress.get(address) ?? 0) + 1;
    if (open > limits.maxConnectionsPerAddress) {
      socket.destroy();
      return;
    }
    perAddress.set(address, open);
    socket.once("close", () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  return server;
}

/** Admission of long-lived streams (SSE): a global cap and a cap per client address. */
export class StreamGate {
  private readonly perAddress = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {}

  /** A release function when admitted; otherwise why not ("global" or "address"). */
  admit(address: string): (() => void) | "global" | "address" {
    if (this.total >= this.max) return "global";
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= this.maxPerAddress) return "address";
    this.total++;
    this.perAddress.set(address, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    };
  }

  get size(): number {
    return this.total;
  }
}
