/**
 * Serves an in-process EIP-1193 provider (Hardhat's EDR chain) as an HTTP JSON-RPC endpoint, so that
 * other processes, wallets (MetaMask) and the other `oracle` subcommands can use the `oracle dev` chain.
 * Not Hardhat's `node` task or `network.createServer`: each starts a chain of its own, and `dev` must
 * serve the connection it deployed to and journals (chain-journal.ts).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Eip1193 {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

interface RpcRequest {
  jsonrpc?: string;
  id?: string | number | null;
  method?: unknown;
  params?: unknown;
}

const MAX_BODY = 32 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function handle(provider: Eip1193, call: RpcRequest): Promise<object> {
  const id = call.id ?? null;
  if (typeof call.method !== "string") return { jsonrpc: "2.0", id, error: { code: -32600, message: "invalid request: no method" } };
  try {
    const params = call.params === undefined ? [] : (call.params as unknown[]);
    const result = await provider.request({ method: call.method, params });
    return { jsonrpc: "2.0", id, result: result === undefined ? null : result };
  } catch (error) {
    const e = error as { code?: unknown; message?: string; data?: unknown };
    return {
      jsonrpc: "2.0",
      id,
      error: { code: typeof e.code === "number" ? e.code : -32603, message: e.message ?? String(error), ...(e.data === undefined ? {} : { data: e.data }) },
    };
  }
}

export interface RpcServer {
  url: string;
  close(): Promise<void>;
}

export async function serveJsonRpc(provider: Eip1193, host: string, port: number): Promise<RpcServer> {
  const server: Server = createServer((req, res) => {
    // Browsers (MetaMask, dApp front ends on another port) send a CORS preflight first.
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-allow-headers", "content-type");
    res.setHeader("access-control-allow-methods", "POST, OPTIONS");
    if (req.method === "OPTIONS") return void res.writeHead(204).end();
    if (req.method !== "POST") return void res.writeHead(405, { "content-type": "text/plain" }).end("JSON-RPC over POST\n");
    void (async () => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
        return;
      }
      const reply = Array.isArray(body) ? await Promise.all(body.map((c) => handle(provider, c as RpcRequest))) : await handle(provider, body as RpcRequest);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
