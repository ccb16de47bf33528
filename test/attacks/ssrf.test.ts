/**
 * Issue 13, findings 2 and 8 (fetch half): SSRF and tarpits through `inputURI`. The requester chooses
 * the URI; the worker fetched it with no address filter and followed redirects, so a loopback admin
 * endpoint received `GET /admin/delete-all?confirm=1` (directly and via a 302), and the outcome
 * (status, size, closed port) appeared in the public signed rejection. A tarpit held a job slot for
 * the whole timeout, five deliveries in a row. Now every fetch obeys one address policy after DNS
 * resolution and on every redirect, slow hosts are cut off by a first-byte and a minimum-rate limit,
 * and each becomes one generic signed rejection.
 */
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { RejectReason, fetchBytes, isError, isForbiddenAddress } from "../../protocol/index.js";
import { CLS_HASH, CLS_INPUT, CLS_OUTPUT, CLS_URI } from "../worker/fixtures.js";
import { textLineTensor } from "../../examples/text-images.js";
import { attackJob, attackWorker, type AttackWorker } from "./harness.js";

interface Host {
  url: string;
  port: number;
  hits: string[];
  close(): Promise<void>;
}

/** An HTTP server on `address` that records every request and answers with `handler`. */
async function host(address: string, handler: Parameters<typeof createServer>[1]): Promise<Host> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? "");
    handler!(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address}:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const MODELS = [{ modelHash: CLS_HASH, uris: [CLS_URI], input: CLS_INPUT, output: CLS_OUTPUT }];
const OPT_IN = { modelSchemes: ["npm" as const] };

describe("attack: SSRF and tarpits through inputURI", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function worker(config: Parameters<typeof attackWorker>[1] = {}): Promise<AttackWorker> {
    const w = await attackWorker(MODELS, { ...OPT_IN, ...config });
    closers.push(() => w.close());
    return w;
  }

  async function adminEndpoint(address = "127.0.0.1"): Promise<Host> {
    const admin = await host(address, (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("deleted everything"));
    closers.push(() => admin.close());
    return admin;
  }

  function expectGenericRejection(reply: Record<string, unknown>, ...forbidden: string[]): void {
    expect(reply.kind).toBe("rejection");
    expect(reply.reason).toBe(RejectReason.InputUnavailable);
    expect(reply.message).toBe("the input at inputURI is unavailable, too large, or not a valid tensor for this model");
    // The public text (the other fields are ids, hex and a timestamp that may hold any digits by chance).
    const text = `${String(reply.code)} ${String(reply.message)}`;
    for (const f of forbidden) expect(text).not.toContain(f);
  }

  it("a loopback admin endpoint named directly, by a name, as a decimal or v4-mapped IPv6 literal is never called", async () => {
    const admin = await adminEndpoint();
    const w = await worker();
    const path = "/admin/delete-all?confirm=1";
    for (const uri of [
      `${admin.url}${path}`,
      `http://localhost:${admin.port}${path}`,
      `http://2130706433:${admin.port}${path}`,
      `http://[::ffff:127.0.0.1]:${admin.port}${path}`,
      `http://[::ffff:7f00:1]:${admin.port}${path}`,
      `http://0.0.0.0:${admin.port}${path}`,
    ]) {
      const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), uri));
      expectGenericRejection(reply, String(admin.port), "200", "deleted");
    }
    expect(admin.hits).toEqual([]);
  });

  it("a redirect from an allowed host to the loopback admin endpoint is refused before it is followed", async () => {
    const admin = await adminEndpoint("127.0.0.1");
    // The redirector is the only host allowed (127.0.0.2: Linux routes all of 127/8 to loopback).
    const redirector = await host("127.0.0.2", (_req, res) => res.writeHead(302, { location: `${admin.url}/admin/delete-all?confirm=1` }).end());
    closers.push(() => redirector.close());
    const w = await worker({ fetchAllowedAddresses: ["127.0.0.2/32"] });
    const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), `${redirector.url}/innocent.bin`));
    expectGenericRejection(reply, String(admin.port), "302");
    expect(redirector.hits).toEqual(["/innocent.bin"]);
    expect(admin.hits).toEqual([]);
  });

  it("redirect chains are capped and followed by hand (each hop checked)", async () => {
    let n = 0;
    const loop = await host("127.0.0.1", (_req, res) => res.writeHead(302, { location: `/hop/${++n}` }).end());
    closers.push(() => loop.close());
    const e = await fetchBytes(`${loop.url}/start`, { maxBytes: 100, addressPolicy: { allowedAddresses: ["127.0.0.1"] } }).catch((x: unknown) => x);
    expect(isError(e, "INPUT_UNAVAILABLE")).toBe(true);
    expect(loop.hits).toEqual(["/start", "/hop/1", "/hop/2", "/hop/3"]);
  });

  it("a tarpit that never answers costs one first-byte timeout and one generic rejection, never a redelivery", async () => {
    const tarpit = await host("127.0.0.1", () => undefined); // accepts, never answers
    const w = await worker({ fetchAllowedAddresses: ["127.0.0.1"], fetchFirstByteTimeoutMs: 300 });
    const started = Date.now();
    const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), `${tarpit.url}/slow`));
    expect(Date.now() - started).toBeLessThan(5_000);
    expectGenericRejection(reply, String(tarpit.port), "300");
    await new Promise((r) => setTimeout(r, 300));
    expect(tarpit.hits).toHaveLength(1);
  });

  it("a tarpit that trickles its body is cut off by the minimum rate", async () => {
    const trickle = await host("127.0.0.1", (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const timer = setInterval(() => res.write(Buffer.alloc(1)), 200);
      res.on("close", () => clearInterval(timer));
    });
    const w = await worker({ fetchAllowedAddresses: ["127.0.0.1"], fetchMinBytesPerSecond: 1024, fetchTimeoutMs: 20_000 });
    const started = Date.now();
    const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), `${trickle.url}/drip`));
    expect(Date.now() - started).toBeLessThan(6_000);
    expectGenericRejection(reply, String(trickle.port), "1024");
    expect(trickle.hits).toHaveLength(1);
  });

  it("an allowed host's status code, size and port never reach the public rejection", async () => {
    const teapot = await host("127.0.0.1", (_req, res) => res.writeHead(418, { "content-length": "13" }).end("I'm a teapot!"));
    closers.push(() => teapot.close());
    const w = await worker({ fetchAllowedAddresses: ["127.0.0.1"] });
    const reply = await w.serve(attackJob(CLS_HASH, textLineTensor("x"), `${teapot.url}/x`));
    expectGenericRejection(reply, "418", "teapot", String(teapot.port));
  });

  it("the address policy covers loopback, private, link-local, CGNAT, metadata, multicast, unspecified and embedded IPv4", () => {
    const forbidden = [
      "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
      "100.100.100.200", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "198.18.0.1",
      "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
      "::ffff:10.0.0.1", "::ffff:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:c0a8:101::", "::127.0.0.1",
    ];
    const allowed = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"];
    expect(forbidden.filter((a) => !isForbiddenAddress(a))).toEqual([]);
    expect(allowed.filter((a) => isForbiddenAddress(a))).toEqual([]);
  });
});


