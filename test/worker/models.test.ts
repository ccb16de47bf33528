import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fetchBytes, isError, type FetchBytesOptions, type Hex } from "../../protocol/index.js";
import { ModelStore, sha256File } from "../../worker/index.js";
import { CLS_BYTES, CLS_HASH, CLS_URI, silentLogger, tempDir } from "./fixtures.js";

describe("ModelStore", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fetches: string[];
  const countingFetch = (uri: string, options: FetchBytesOptions) => {
    fetches.push(uri);
    return fetchBytes(uri, options);
  };
  const store = () =>
    new ModelStore({ cacheDir: tmp.dir, maxModelBytes: 50e6, timeoutMs: 5000, schemes: ["npm", "file", "http", "https"], logger: silentLogger(), fetch: countingFetch,
      // A closed loopback port stands in for an unreachable host: loopback must be allowed for that.
      http: { addressPolicy: { allowedAddresses: ["127.0.0.0/8"] } } });

  beforeEach(async () => {
    tmp = await tempDir();
    fetches = [];
  });
  afterEach(() => tmp.cleanup());

  it("test_path_fetchesVerifiesAndCaches_succeeds", async () => {
    const s = store();
    const path = await s.path(CLS_HASH, [CLS_URI]);
    expect(path).toBe(s.cachePath(CLS_HASH));
    expect(await sha256File(path)).toBe(CLS_HASH);
    expect((await readFile(path)).equals(CLS_BYTES)).toBe(true);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    await s.path(CLS_HASH, [CLS_URI]);
    expect(fetches).toHaveLength(1);
    // A new process (store) re-verifies the cached file instead of fetching again.
    await store().path(CLS_HASH, [CLS_URI]);
    expect(fetches).toHaveLength(1);
  });

  it("test_path_hashMismatch_isRefusedAndNotCached", async () => {
    const wrong = `0x${"ab".repeat(32)}` as Hex;
    const e = await store().path(wrong, [CLS_URI]).catch((x: unknown) => x);
    expect(isError(e, "MODEL_HASH_MISMATCH")).toBe(true);
    expect((e as Error).message).toContain(CLS_HASH);
    expect(existsSync(store().cachePath(wrong))).toBe(false);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it("test_path_triesNextUri_whenFirstServesWrongBytes_succeeds", async () => {
    const decoy = `${tmp.dir}/decoy.onnx`;
    await writeFile(decoy, "not the model");
    const path = await store().path(CLS_HASH, [decoy, CLS_URI]);
    expect(await sha256File(path)).toBe(CLS_HASH);
    expect(fetches).toEqual([decoy, CLS_URI]);
  });

  it("test_path_corruptedCache_isReverifiedDeletedAndRefetched", async () => {
    const path = await store().path(CLS_HASH, [CLS_URI]);
    await writeFile(path, "bit rot");
    // The same process trusts what it verified; a restart re-verifies.
    const restarted = store();
    const again = await restarted.path(CLS_HASH, [CLS_URI]);
    expect(again).toBe(path);
    expect(await sha256File(again)).toBe(CLS_HASH);
    expect(fetches).toHaveLength(2);
  });

  it("test_path_concurrentRequests_shareOneDownload", async () => {
    const s = store();
    const paths = await Promise.all(Array.from({ length: 8 }, () => s.path(CLS_HASH, [CLS_URI])));
    expect(new Set(paths).size).toBe(1);
    expect(fetches).toHaveLength(1);
  });

  it("test_path_unreachable_isRetryableFetchFailure", async () => {
    const e = await store().path(CLS_HASH, ["http://127.0.0.1:1/model.onnx"]).catch((x: unknown) => x);
    expect(isError(e, "MODEL_FETCH_FAILED") && e.retryable).toBe(true);
    const none = await store().path(CLS_HASH, []).catch((x: unknown) => x);
    expect(isError(none, "MODEL_FETCH_FAILED") && !none.retryable).toBe(true);
  });
});
