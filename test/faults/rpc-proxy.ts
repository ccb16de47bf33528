/**
 * A JSON-RPC fault proxy on loopback: sits between a client (the relayer) and an Ethereum node and,
 * at a configurable rate, answers HTTP 503, drops the connection before forwarding, drops it after
 * forwarding (the node acted, the client never hears: the nasty case for eth_sendRawTransaction),
 * or delays the call. Decisions come from a seeded PRNG so a failing run can be replayed. Everything
 * injected is counted.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { seededRandom } from "../../protocol/index.js";

export interface RpcFaultRates {
  /** Probability a call is answered 503 without reaching the node. */
  http503: number;
  /** Probability the connection is destroyed before the call reaches the node. */
  dropBefore: number;
  /** Probability the call reaches the node but the connection is destroyed instead of answering. */
  dropAfter: number;
  /** Probability a call is held for `delayMs` (uniform 0..delayMs) before it is forwarded. */
  delay: number;
  delayMs: number;
  /** JSON-RPC methods never faulted (e.g. to keep a test's bookkeeping reads clean). */
  exempt?: readonly string[];
}

export interface RpcFaultCounts {
  calls: number;
  forwarded: number;
  http503: number;
  dropBefore: number;
  dropAfter: number;
  delayed: number;
  /** dropAfter on eth_sendRawTransaction: the transaction was sent but the sender never learnt. */
  lostTxResponses: number;
}

export interface RpcFaultProxy {
  url: string;
  counts: RpcFaultCounts;
  /** Changes the rates from now on (0 everywhere: a clean pass-through). */
  set(rates: Partial<RpcFaultRates>): void;
  close(): Promise<void>;
}

export const NO_FAULTS: RpcFaultRates = { http503: 0, dropBefore: 0, dropAfter: 0, delay: 0, delayMs: 0 };

export async function startRpcFaultProxy(target: string, options: { seed?: number; rates?: Partial<RpcFaultRates> } = {}): Promise<RpcFaultProxy> {
  const upstream = new URL(target);
  const random = seededRandom(options.seed ?? 1);
  let rates: RpcFaultRates = { ...NO_FAULTS, ...options.rates };
  const counts: RpcFaultCounts = { calls: 0, forwarded: 0, http503: 0, dropBefore: 0, dropAfter: 0, delayed: 0, lostTxResponses: 0 };
  const sockets = new Set<Socket>();

  const forward = (body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        { hostname: upstream.hostname, port: upstream.port, path: upstream.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": body.byteLength } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: { "content-type": String(res.headers["content-type"] ?? "application/json") }, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const methodsOf = (body: Buffer): string[] => {
    try {
      const parsed = JSON.parse(body.toString("utf8")) as { method?: string } | { method?: string }[];
      return (Array.isArray(parsed) ? parsed : [parsed]).map((m) => String(m?.method ?? ""));
    } catch {
      return [];
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    counts.calls++;
    const methods = methodsOf(body);
    const exempt = rates.exempt !== undefined && methods.every((m) => rates.exempt!.includes(m));
    if (!exempt) {
      const roll = random();
      let edge = rates.http503;
      if (roll < edge) {
        counts.http503++;
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "injected 503" }));
        return;
      }
      edge += rates.dropBefore;
      if (roll < edge) {
        counts.dropBefore++;
        req.socket.destroy();
        return;
      }
      edge += rates.dropAfter;
      if (roll < edge) {
        counts.dropAfter++;
        if (methods.includes("eth_sendRawTransaction")) counts.lostTxResponses++;
        await forward(body).catch(() => undefined);
        req.socket.destroy();
        return;
      }
      if (random() < rates.delay) {
        counts.delayed++;
        await new Promise((r) => setTimeout(r, random() * rates.delayMs));
      }
    }
    try {
      const answer = await forward(body);
      counts.forwarded++;
      res.writeHead(answer.status, answer.headers).end(answer.body);
    } catch {
      res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: "upstream unreachable" }));
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    set(next) {
      rates = { ...rates, ...next };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
