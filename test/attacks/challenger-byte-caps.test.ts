/**
 * Issue 13, finding 7 (third part): a poisoned trace with the right row count. Each row was downloaded
 * up to 64 MiB with no total cap, so a manifest of the committed length whose rows are endless streams
 * made the challenger download rows x 64 MiB. Now each row is read at most up to the encoded size of
 * its committed dtype x shape (the stream is aborted there: TRACE_MALFORMED, not a withheld trace),
 * and all the blobs of one audit together at most `maxTotalBytes`.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { encodeTensor, hashEncoded, traceManifest, type Hex, type Tensor } from "../../protocol/index.js";
import { commitTrace } from "../../protocol/trace.js";
import { encodedSize, fetchTrace } from "../../challenger/fetchTrace.js";
import { clsCommitment } from "../challenger/fixtures.js";
import { loopbackServer, type LoopbackServer } from "../worker/fixtures.js";

const CHUNK = Buffer.alloc(64 << 10, 7);

describe("attack: a manifest of the committed length whose rows are huge", () => {
  let store: LoopbackServer | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("each row is aborted at its committed size: the audit downloads less than the model's trace", async () => {
    const commitment = await clsCommitment();
    const rows = commitment.traceTypes.length;
    const traceBytes = commitment.traceTypes.reduce((n, t) => n + encodedSize(t), 0);
    const hashes = Array.from({ length: rows }, () => `0x${randomBytes(32).toString("hex")}` as Hex);
    const manifest = encodeTensor(traceManifest(hashes));
    const root = hashEncoded(manifest);
    let served = 0;
    store = await loopbackServer((req, _body, res) => {
      if (req.url === `/blobs/${root}`) return void res.end(manifest);
      // Every row: an endless body with no content-length (the old cap was 64 MiB a row).
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed) {
          served += CHUNK.byteLength;
          if (!res.write(CHUNK)) return void res.once("drain", pump);
        }
      };
      res.on("close", () => undefined);
      pump();
    });
    const started = Date.now();
    const error = await fetchTrace(store.url, root, { rowTypes: commitment.traceTypes, expectedRows: rows }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "TRACE_MALFORMED" });
    const maxBytes = (error as { details: { maxBytes: number; hash: string } }).details.maxBytes;
    const row = hashes.findIndex((h) => h === (error as { details: { hash: string } }).details.hash);
    expect(maxBytes).toBe(encodedSize(commitment.traceTypes[row]!));
    // The rows after the failure are not asked for: a handful of lanes, not all 221 rows.
    expect(store.requests.length).toBeLessThan(1 + 16);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // What the server got into the sockets (the challenger read less: kernel buffers hold the rest)
    // is far below one row's old 64 MiB cap, let alone 221 of them.
    expect(served).toBeLessThan(64 << 20);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(traceBytes).toBeLessThan(16 << 20);
  });

  it("a row that declares a larger content-length is refused before its body is read", async () => {
    const commitment = await clsCommitment();
    const rows = commitment.traceTypes.length;
    const hashes = Array.from({ length: rows }, () => `0x${randomBytes(32).toString("hex")}` as Hex);
    const manifest = encodeTensor(traceManifest(hashes));
    const root = hashEncoded(manifest);
    store = await loopbackServer((req, _body, res) => {
      if (req.url === `/blobs/${root}`) return void res.end(manifest);
      res.writeHead(200, { "content-length": String(64 << 20) });
      res.write(CHUNK);
    });
    await expect(fetchTrace(store.url, root, { rowTypes: commitment.traceTypes, concurrency: 1 })).rejects.toMatchObject({ code: "TRACE_MALFORMED" });
    expect(store.requests).toHaveLength(2); // the manifest and the first row only
  });

  it("without committed types, the audit's total byte cap still bounds what is downloaded", async () => {
    // Five genuine 400 KB rows behind a genuine manifest; the audit may download 1 MiB in all.
    const tensors: Tensor[] = Array.from({ length: 5 }, (_, i) => ({ dtype: "float32", shape: [100_000], data: new Float32Array(100_000).fill(i) }));
    const run = commitTrace(tensors);
    const blobs = new Map<string, Buffer>([[run.traceRoot.toLowerCase(), encodeTensor(run.manifest)]]);
    tensors.forEach((t, i) => blobs.set(run.hashes[i]!.toLowerCase(), encodeTensor(t)));
    let served = 0;
    store = await loopbackServer((req, _body, res) => {
      const blob = blobs.get(req.url!.replace(/^\/blobs\//, "").toLowerCase());
      if (blob === undefined) return void res.writeHead(404).end();
      served += blob.byteLength;
      res.end(blob);
    });
    const error = await fetchTrace(store.url, run.traceRoot as Hex, { maxTotalBytes: 1 << 20, concurrency: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "TRACE_MALFORMED" });
    // Two rows and the manifest fit; the third is refused (its declared size is over what is left).
    expect(store.requests).toHaveLength(4);
    expect(served).toBeLessThan((1 << 20) + 400_100);
    // With room for all of it, the same trace is fetched whole.
    const fetched = await fetchTrace(store.url, run.traceRoot as Hex, { maxTotalBytes: 4 << 20 });
    expect(fetched.tensors).toHaveLength(5);
  });
});
