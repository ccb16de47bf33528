/** cli/dev-guards.ts `listening`: a taken port is PORT_IN_USE (found by the error's code, plain or wrapped), anything else passes through. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { listening } from "../../cli/dev-guards.js";
import { serveJsonRpc } from "../../cli/rpc-server.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function takenPort(): Promise<number> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as AddressInfo).port;
}

describe("listening", () => {
  it("EADDRINUSE, thrown as it is or as the cause of another error, becomes PORT_IN_USE naming the port and the option", async () => {
    const port = await takenPort();
    const provider = { request: async () => null };
    const direct = await listening("JSON-RPC endpoint", "--port", "127.0.0.1", port, () => serveJsonRpc(provider, "127.0.0.1", port)).catch((e: unknown) => e);
    expect(direct).toMatchObject({ code: "PORT_IN_USE", details: { host: "127.0.0.1", port, option: "--port" } });
    expect((direct as Error).message).toContain(`dev --port ${port + 1}`);
    const wrapped = await listening("relayer API", "--relayer-port", "127.0.0.1", port, async () => {
      const inner = await serveJsonRpc(provider, "127.0.0.1", port).catch((cause: unknown) => cause);
      throw new Error("the relayer could not start", { cause: inner });
    }).catch((e: unknown) => e);
    expect(wrapped).toMatchObject({ code: "PORT_IN_USE", details: { port, option: "--relayer-port" } });
  });

  it("any other failure is thrown as it is", async () => {
    const failure = new Error("EADDRINUSE is only named in this message");
    await expect(listening("relayer API", "--relayer-port", "127.0.0.1", 1, () => Promise.reject(failure))).rejects.toBe(failure);
  });
});
