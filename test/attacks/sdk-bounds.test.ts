/**
 * Issue 13, finding 9: an SDK that reads whatever it is given. A 1 MiB PNG inflated to 2.2 GiB;
 * `outputBytes` buffered a 1 GiB body with no timeout before the hash check; `upload()` put on-chain
 * whatever URI the relayer answered. Now the PNG inflate is capped by the declared image size, the
 * output fetch has a timeout and a size cap checked while streaming, and the upload URI must name the
 * very blob uploaded.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32, deflateSync } from "node:zlib";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { afterEach, describe, expect, it } from "vitest";
import { OracleClient, decodePng, encodePng, encodeTensor, hashTensor, isSdkError, type OracleClientOptions } from "../../sdk/index.js";
import { randomHash } from "../worker/fixtures.js";

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.byteLength, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, "latin1"), body])) >>> 0);
  return Buffer.concat([head, body, crc]);
}

/** A PNG declaring `width`x`height` 8-bit gray whose image data inflates to `inflated` bytes. */
function pngBomb(width: number, height: number, inflated: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // gray
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(inflated), { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
}

interface FakeRelayer {
  url: string;
  sent: () => number;
  close(): Promise<void>;
}

async function fakeRelayer(handler: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse, count: (n: number) => void) => void): Promise<FakeRelayer> {
  let sent = 0;
  const server: Server = createServer((req, res) => handler(req, res, (n) => (sent += n)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("attack: an SDK that reads unbounded replies", () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function client(relayerUrl: string, extra: Partial<OracleClientOptions> = {}): Promise<OracleClient> {
    // A provider that is never asked anything: the registry address is given.
    const provider = new JsonRpcProvider("http://127.0.0.1:1", undefined, { staticNetwork: Network.from(31337) });
    closers.push(() => provider.destroy());
    return OracleClient.connect({ oracle: Wallet.createRandom().address, registry: Wallet.createRandom().address, runner: provider, relayerUrl, ...extra });
  }

  it("a PNG whose image data inflates far beyond its declared size is refused without inflating it", () => {
    const bomb = pngBomb(64, 64, 64 * 1024 * 1024);
    expect(bomb.byteLength).toBeLessThan(200 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    let caught: unknown;
    try {
      decodePng(bomb);
    } catch (error) {
      caught = error;
    }
    expect(isSdkError(caught, "INPUT_INVALID")).toBe(true);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
    // An honest PNG of the same size still decodes.
    const ok = decodePng(encodePng(64, 64, new Uint8Array(64 * 64).fill(7), 1));
    expect([ok.width, ok.height, ok.rgb[0]]).toEqual([64, 64, 7]);
  });

  it("outputBytes stops reading at maxOutputBytes, declared or streamed, before any hash check", async () => {
    const endless = await fakeRelayer((_req, res, count) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const block = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(block)) count(block.byteLength);
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    });
    closers.push(() => endless.close());
    const c = await client(endless.url, { maxOutputBytes: 1024 * 1024 });
    const e = await c.outputBytes(randomHash()).catch((x: unknown) => x);
    expect(isSdkError(e, "OUTPUT_UNAVAILABLE")).toBe(true);
    expect((e as Error).message).toMatch(/more than maxOutputBytes/);
    // Kernel buffers aside, the server got to send little more than the cap.
    expect(endless.sent()).toBeLessThan(32 * 1024 * 1024);

    const declared = await fakeRelayer((_req, res) => res.writeHead(200, { "content-length": String(1 << 30) }).end());
    closers.push(() => declared.close());
    const d = await (await client(declared.url, { maxOutputBytes: 1024 * 1024 })).outputBytes(randomHash()).catch((x: unknown) => x);
    expect((d as Error).message).toMatch(/1073741824 bytes, more than maxOutputBytes/);
  });

  it("outputBytes gives up after outputTimeoutMs on a relayer that never answers", async () => {
    const silent = await fakeRelayer(() => undefined);
    closers.push(() => silent.close());
    const started = Date.now();
    const e = await (await client(silent.url, { outputTimeoutMs: 300 })).outputBytes(randomHash()).catch((x: unknown) => x);
    expect(isSdkError(e, "OUTPUT_UNAVAILABLE")).toBe(true);
    expect((e as Error).message).toMatch(/longer than 300 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("upload() refuses a URI that does not name the blob it uploaded", async () => {
    const input = encodeTensor({ dtype: "int8", shape: [1, 8], data: new Int8Array(8).fill(3) });
    const inputHash = hashTensor({ dtype: "int8", shape: [1, 8], data: new Int8Array(8).fill(3) });
    let answer = "";
    const relayer = await fakeRelayer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ hash: inputHash, uri: answer })));
    });
    closers.push(() => relayer.close());
    const c = await client(relayer.url);
    for (const bad of [`https://evil.example/blobs/${randomHash()}`, `${relayer.url}/blobs/${inputHash}?x=1`, `file:///blobs/${inputHash}`, `${relayer.url}/other/${randomHash()}`]) {
      answer = bad;
      const e = await c.upload(input, inputHash).catch((x: unknown) => x);
      expect(isSdkError(e, "INPUT_UPLOAD_FAILED")).toBe(true);
    }
    answer = `https://cdn.example/relayer/blobs/${inputHash}`;
    expect(await c.upload(input, inputHash)).toBe(answer);
    // Bytes that are not the input named are refused before anything is sent.
    const mismatch = await c.upload(input, randomHash()).catch((x: unknown) => x);
    expect(isSdkError(mismatch, "INPUT_UPLOAD_FAILED") && (mismatch as Error).message.includes("hash to")).toBe(true);
  });
});
