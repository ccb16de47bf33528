/**
 * Issue 13, finding 7 (first part): blinding the challenger with a tiny manifest. `fetchTrace`
 * downloaded every manifest row (up to 64 MiB each) before comparing the row count with the model's
 * commitment: a 1.9 KB manifest made it fetch 960 MiB. Now the count is checked first, and a manifest
 * with the wrong count is returned with no row downloaded (the daemon proves the mismatch from the
 * row hashes alone: proveManifestMismatch needs only the count and the manifest root).
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { encodeTensor, hashEncoded, traceManifest, type Hex } from "../../protocol/index.js";
import { fetchTrace } from "../../challenger/index.js";
import { clsCommitment } from "../challenger/fixtures.js";
import { loopbackServer, type LoopbackServer } from "../worker/fixtures.js";

describe("attack: a tiny manifest naming thousands of huge rows", () => {
  let store: LoopbackServer | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("the challenger compares the row count with the commitment before downloading any row", async () => {
    const commitment = await clsCommitment();
    const rows = 60_000; // 60,000 rows x 64 MiB would be 3.7 TiB
    const hashes = Array.from({ length: rows }, () => `0x${randomBytes(32).toString("hex")}` as Hex);
    const manifest = encodeTensor(traceManifest(hashes));
    const root = hashEncoded(manifest);
    store = await loopbackServer((req, _body, res) => {
      if (req.url === `/blobs/${root}`) return void res.end(manifest);
      // Any row: a 64 MiB answer (never asked for).
      res.writeHead(200, { "content-length": String(64 << 20) });
      res.end(Buffer.alloc(64 << 20));
    });
    const started = Date.now();
    const fetched = await fetchTrace(store.url, root, { expectedRows: commitment.traceTypes.length });
    expect(fetched.hashes).toHaveLength(rows);
    expect(fetched.tensors).toEqual([]);
    expect(store.requests.map((r) => r.url)).toEqual([`/blobs/${root}`]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
