/**
 * Issue 13, finding 6: a relayer that held whatever one address opened. 1,200 SSE streams and 200
 * slow-loris sockets from one address were all kept; `GET /api/requests/:id` decoded the whole input
 * blob on every anonymous call. Now: per-address and global caps on sockets and on event streams,
 * header/request timeouts checked every second, previews from a prefix of the blob (header and first
 * values), and a trusted-proxy setting so that limits count the real client behind a proxy and a
 * client cannot pick its own address with X-Forwarded-For.
 */
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger, encodeTensor, hashEncoded, Tier } from "../../protocol/index.js";
import { createApi, type ApiDeps, createLimitedServer, DEFAULT_SERVER_LIMITS, type ServerLimits } from "../../relayer/index.js";
import { DEFAULT_PARAMS, MODEL_FEE, startLocalStack, type LocalStack } from "../../stack/local-stack.js";
import { waitFor } from "../worker/fixtures.js";

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
});

async function limitedApi(limits: Partial<ServerLimits>, api: Partial<ApiDeps> = {}): Promise<{ port: number; url: string }> {
  const deps = { log: createLogger("test", { level: "silent" }), maxBlobBytes: 1024, publicUrl: () => "", ...api } as unknown as ApiDeps;
  const server = createLimitedServer(createApi(deps), { ...DEFAULT_SERVER_LIMITS, ...limits });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}` };
}

/** Opens a socket and reports whether the server closed it. */
function openSocket(port: number, send?: string): { socket: Socket; closed: () => boolean } {
  let closed = false;
  const socket = connect(port, "127.0.0.1", () => {
    if (send !== undefined) socket.write(send);
  });
  socket.on("error", () => undefined);
  socket.on("close", () => (closed = true));
  sockets.push(socket);
  return { socket, closed: () => closed };
}

describe("attack: holding the relayer's connections (no chain)", () => {
  it("slow-loris sockets that never finish their headers are closed after headersTimeoutMs", async () => {
    const { port } = await limitedApi({ headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const loris = Array.from({ length: 10 }, () => openSocket(port, "GET /health HTTP/1.1\r\nHost: relayer\r\nX-Slow: "));
    const started = Date.now();
    // Closed by the server's own 500 ms timers; Node's defaults alone would hold them for 30 s or more (its
    // periodic check). The bound leaves room for a starved event loop on a loaded 2-core CI machine
    // (a full run there once saw none closed within 5 s, though every run alone closes them in ~0.5 s).
    await waitFor(() => loris.every((l) => l.closed()) || undefined, 10_000, `the slow sockets to be closed (${loris.filter((l) => l.closed()).length} of 10 closed)`);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a kept-alive socket sending many requests does not pile up listeners on it (no leak, no MaxListenersExceededWarning)", async () => {
    const { port } = await limitedApi({ headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const server = servers[servers.length - 1]!;
    let serverSocket: Socket | undefined;
    server.once("connection", (s: Socket) => (serverSocket = s));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const { socket } = openSocket(port);
      let received = "";
      socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
      const n = 40;
      // Pipelined on one socket, each with a body (so each request is still incomplete when it arrives).
      socket.write("POST /no-such-route HTTP/1.1\r\nHost: relayer\r\nContent-Length: 3\r\n\r\nabc".repeat(n));
      await waitFor(() => (received.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0) >= n || undefined, 20_000, "every pipelined request to be answered");
      expect(serverSocket).toBeDefined();
      // Node's own listeners plus the limiter's two per socket; before the fix, one more per request served.
      expect(serverSocket!.listenerCount("close")).toBeLessThan(8);
      expect(warnings).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("one address gets at most maxConnectionsPerAddress sockets; the rest are closed at once", async () => {
    const { port } = await limitedApi({ maxConnectionsPerAddress: 8, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
    const flood = Array.from({ length: 40 }, () => openSocket(port));
    await waitFor(() => flood.filter((f) => f.closed()).length >= 32 || undefined, 5_000, "the sockets over the cap to be closed");
    await new Promise((r) => setTimeout(r, 200));
    expect(flood.filter((f) => !f.closed())).toHaveLength(8);
  });

  it("X-Forwarded-For counts only from a trusted proxy, and only its right-most untrusted hop", async () => {
    const rateLimit = { perSecond: 0.001, burst: 2 };
    const get = (url: string, xff?: string) => fetch(`${url}/nothing`, { headers: xff === undefined ? {} : { "x-forwarded-for": xff } }).then((r) => r.status);
    // No trusted proxy: a client cannot mint itself fresh buckets by sending X-Forwarded-For.
    const direct = await limitedApi({}, { rateLimit });
    expect([await get(direct.url, "1.1.1.1"), await get(direct.url, "2.2.2.2"), await get(direct.url, "3.3.3.3")]).toEqual([404, 404, 429]);
    // Behind a trusted proxy (here: loopback), each real client has its own bucket; entries a client
    // prepends itself are ignored.
    const proxied = await limitedApi({}, { rateLimit, trustProxy: ["127.0.0.1"] });
    expect([await get(proxied.url, "1.1.1.1"), await get(proxied.url, "1.1.1.1"), await get(proxied.url, "1.1.1.1")]).toEqual([404, 404, 429]);
    expect(await get(proxied.url, "9.9.9.9, 1.1.1.1")).toBe(429);
    expect(await get(proxied.url, "2.2.2.2")).toBe(404);
  });
});

describe("attack: event streams and previews on a running relayer", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startLocalStack({
      logger: createLogger("attack", { level: "silent" }),
      workers: 0,
      relayer: { api: { port: 0, maxEventStreams: 6, maxEventStreamsPerAddress: 4, rateLimit: { perSecond: 0, burst: 1 }, trustProxy: ["127.0.0.1"] } },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  it("event streams are capped per address and in total", async () => {
    const controllers: AbortController[] = [];
    const open = async (xff?: string) => {
      const c = new AbortController();
      controllers.push(c);
      const res = await fetch(`${stack.relayer.url}/api/events`, { signal: c.signal, headers: xff === undefined ? {} : { "x-forwarded-for": xff } });
      if (res.status !== 200) await res.body?.cancel();
      return res.status;
    };
    try {
      // The test talks through "a trusted proxy" (loopback), so X-Forwarded-For names each client.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push(await open("1.1.1.1"));
      expect(statuses).toEqual([200, 200, 200, 200, 429]); // per address
      expect([await open("2.2.2.2"), await open("2.2.2.2"), await open("3.3.3.3")]).toEqual([200, 200, 429]); // 6 in all
      // Closing a stream frees its place.
      controllers[0]!.abort();
      await waitFor(async () => ((await open("3.3.3.3")) === 200 ? true : undefined), 5_000, "a freed stream slot");
    } finally {
      controllers.forEach((c) => c.abort());
    }
  });

  it("a request's detail previews a 16 MiB input from its header and first values, without decoding it", async () => {
    const n = 4 * 1024 * 1024;
    const data = new Float32Array(n).map((_, i) => i);
    const bytes = encodeTensor({ dtype: "float32", shape: [1, n], data });
    const inputHash = hashEncoded(bytes);
    expect((await fetch(`${stack.relayer.url}/blobs/${inputHash}`, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(bytes) })).status).toBe(201);
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const tx = await stack.oracle.connect(stack.accounts.user).requestInference(
      { modelHash: stack.modelHash, inputHash, input: "0x", inputURI: `${stack.relayer.url}/blobs/${inputHash}`, tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: MODEL_FEE + DEFAULT_PARAMS.minWorkerFee },
    );
    const receipt = (await tx.wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    await waitFor(() => stack.relayer.db.getRequest(id), 30_000, "the relayer to see the request");
    const detail = (await (await fetch(`${stack.relayer.url}/api/requests/${id}`)).json()) as { input: Record<string, unknown> };
    expect(detail.input).toMatchObject({ available: true, partial: true, dtype: "float32", shape: [1, n], elements: n, bytes: bytes.byteLength, min: null });
    // `partial` (with min unknown): built from a prefix of the blob, never the whole 16 MiB decoded (that took
    // 155-240 ms a call; the speed itself is not asserted here: a loaded machine makes any bound flaky).
    expect(detail.input.values).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it("32 anonymous calls at once for one request's detail read the node once, not 32 times", async () => {
    const deadline = (await stack.networkHelpers.time.latest()) + 3600;
    const input = encodeTensor({ dtype: "float32", shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) });
    const inputHash = hashEncoded(input);
    const tx = await stack.oracle.connect(stack.accounts.user).requestInference(
      { modelHash: stack.modelHash, inputHash, input: "0x" + Buffer.from(input).toString("hex"), inputURI: "", tier: Tier.NONE, callbackGasLimit: 0, deadline, maxInlineOutput: 0 },
      { value: MODEL_FEE + DEFAULT_PARAMS.minWorkerFee },
    );
    const receipt = (await tx.wait())!;
    const id = receipt.logs.map((l) => stack.oracle.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!.args.requestId as string;
    await waitFor(() => stack.relayer.db.getRequest(id), 30_000, "the relayer to see the request");
    // Count the relayer's log reads on its own (real) provider.
    const provider = stack.relayer.chain.provider as unknown as { getLogs: (...a: unknown[]) => Promise<unknown> };
    const getLogs = provider.getLogs;
    let calls = 0;
    provider.getLogs = function (this: unknown, ...a: unknown[]) {
      calls++;
      return getLogs.apply(this, a);
    };
    try {
      // Wait until no other caller (the watcher) reads logs, then ask 32 times at once.
      const replies = await Promise.all(Array.from({ length: 32 }, () => fetch(`${stack.relayer.url}/api/requests/${id}`).then(async (r) => ({ status: r.status, body: (await r.json()) as { timeline: { event: string }[] } }))));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      expect(replies.every((r) => r.body.timeline.some((e) => e.event === "InferenceRequested"))).toBe(true);
      // One detail read: its log chunks (few: the request is recent) plus whatever the watcher polled meanwhile.
      expect(calls).toBeLessThan(8);
    } finally {
      provider.getLogs = getLogs;
    }
  });
});
