/**
 * worker/input-cache.ts: the inputs of OPTIMISTIC results, kept until they settle so a FraudGame on a URI input can
 * be answered. Bounded on disk (bytes, entries) and in memory; survives a restart; a corrupted or substituted record
 * is never served; settled requests are pruned. The log under it (worker/input-log.ts) in
 * test/worker/input-log.test.ts: torn writes, restarts, compaction.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InputCache } from "../../worker/input-cache.js";
import { RECORD_HEADER_BYTES } from "../../worker/input-log.js";
import { encodeBundle, encodeTensor, hashBundleEncoded, hashEncoded } from "../../protocol/index.js";

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "input-cache-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function overwrite(file: string, at: number, bytes: Uint8Array): void {
  const fd = openSync(file, "r+");
  writeSync(fd, bytes, 0, bytes.byteLength, at);
  closeSync(fd);
}

const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
function input(n: number, elements = 16) {
  const bytes = encodeTensor({ dtype: "float32", shape: [elements], data: Float32Array.from({ length: elements }, (_, i) => n + i / 8) });
  return { bytes, hash: hashEncoded(bytes) };
}

describe("worker input cache", () => {
  it("test_put_get_restart_keepsInputsOnDisk_hashChecked_succeeds", async () => {
    const d = dir();
    const a = input(1);
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    await cache.put(id(1), a.hash, a.bytes);
    expect(cache.get(id(1))!.equals(a.bytes)).toBe(true);
    expect(cache.get(id(1).toUpperCase().replace("0X", "0x"))!.equals(a.bytes)).toBe(true);
    expect(cache.get(id(2))).toBeUndefined();
    // A restart (the cache closed, a new one on the same folder) still holds it.
    await cache.close();
    const again = new InputCache({ dir: d });
    expect(again.size).toBe(1);
    expect(again.get(id(1))!.equals(a.bytes)).toBe(true);
  });

  it("test_get_corruptedOrSubstitutedRecord_dropped_neverServed", async () => {
    const d = dir();
    const a = input(1);
    const b = input(2);
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    await cache.put(id(1), a.hash, a.bytes);
    await cache.put(id(2), b.hash, b.bytes);
    // Someone overwrites the first record's bytes with another input's: the hash check refuses it and the entry goes.
    const [file] = readdirSync(d);
    overwrite(join(d, file!), RECORD_HEADER_BYTES, b.bytes);
    expect(cache.get(id(1))).toBeUndefined();
    expect(cache.ids()).toEqual([id(2)]);
    expect(cache.get(id(2))!.equals(b.bytes)).toBe(true);
    // The drop is recorded: a restart does not bring the entry back.
    await cache.close();
    expect(new InputCache({ dir: d }).ids()).toEqual([id(2)]);
  });

  it("test_bounds_diskBytesAndEntries_oldestEvictedFirst", async () => {
    const one = input(0).bytes.byteLength;
    const cache = new InputCache({ dir: dir(), maxBytes: 3 * one, memoryBytes: one });
    for (let n = 1; n <= 5; n++) {
      const x = input(n);
      await cache.put(id(n), x.hash, x.bytes);
    }
    expect(cache.ids()).toEqual([id(3), id(4), id(5)]);
    expect(cache.bytes).toBe(3 * one);
    expect(cache.get(id(1))).toBeUndefined();
    expect(cache.get(id(3))).toBeDefined();
    const byCount = new InputCache({ dir: dir(), maxEntries: 2 });
    for (let n = 1; n <= 4; n++) {
      const x = input(n);
      await byCount.put(id(n), x.hash, x.bytes);
    }
    expect(byCount.ids()).toEqual([id(3), id(4)]);
    // An input larger than the whole cache is not kept (a dispute refetches it).
    const small = new InputCache({ dir: dir(), maxBytes: one - 1 });
    await small.put(id(9), input(9).hash, input(9).bytes);
    expect(small.size).toBe(0);
  });

  it("test_prune_settledRequestsDropped_openOnesKept", async () => {
    const cache = new InputCache({ dir: dir() });
    for (let n = 1; n <= 4; n++) await cache.put(id(n), input(n).hash, input(n).bytes);
    const settled = new Set([id(2), id(4)]);
    expect(await cache.prune(async (r) => !settled.has(r))).toBe(2);
    expect(cache.ids()).toEqual([id(1), id(3)]);
  });

  it("test_put_writesOffTheThread_servedFromMemoryMeanwhile_deleteDuringWriteNotRestored", async () => {
    const d = dir();
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    const a = input(1);
    const b = input(2);
    const written = cache.put(id(1), a.hash, a.bytes);
    // Registered at once, served from the pending record's bytes (memoryBytes 0) before it lands.
    expect(cache.has(id(1))).toBe(true);
    expect(cache.get(id(1))!.equals(a.bytes)).toBe(true);
    await written;
    // One log file (not a file per input), holding the record.
    expect(readdirSync(d).filter((n) => n !== "lock")).toEqual(["inputs-00000001.log"]);
    // Deleted while its record is written: a delete record follows it, so a restart does not restore it.
    const pending = cache.put(id(2), b.hash, b.bytes);
    cache.delete(id(2));
    await pending;
    await cache.flush();
    expect(cache.get(id(2))).toBeUndefined();
    await cache.close();
    const again = new InputCache({ dir: d });
    expect(again.ids()).toEqual([id(1)]);
    expect(again.get(id(1))!.equals(a.bytes)).toBe(true);
  });

  it("test_put_afterClose_refused_asALostWrite", async () => {
    const cache = new InputCache({ dir: dir() });
    await cache.close();
    await cache.close(); // twice: no error
    await expect(cache.put(id(1), input(1).hash, input(1).bytes)).rejects.toThrow(/closed/);
    expect(cache.has(id(1))).toBe(false);
  });

  it("test_open_legacyFilePerInputFolder_importedIntoTheLog_badFilesDropped", async () => {
    const d = dir();
    const a = input(1);
    const b = input(2);
    writeFileSync(join(d, `${id(1)}.${a.hash}.bin`), a.bytes);
    writeFileSync(join(d, `${id(2)}.${b.hash}.bin`), b.bytes.subarray(0, 20)); // cut short by a crash
    const cache = new InputCache({ dir: d });
    expect(cache.ids()).toEqual([id(1)]);
    expect(readdirSync(d).filter((n) => n !== "lock")).toEqual(["inputs-00000001.log"]);
    await cache.close();
    expect(new InputCache({ dir: d }).get(id(1))!.equals(a.bytes)).toBe(true);
  });

  it("test_put_get_restart_bundleInput_checkedByItsBundleHash_servedFromDisk", async () => {
    const d = dir();
    const x = { dtype: "float32" as const, shape: [4], data: Float32Array.from([1, 2, 3, 4]) };
    const bundle = encodeBundle({ a: x, b: { ...x, data: Float32Array.from([5, 6, 7, 8]) } });
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    await cache.put(id(1), hashBundleEncoded(bundle), bundle);
    await cache.close();
    // A multi-input model's input is a bundle: read back from disk after a restart and checked as one.
    expect(new InputCache({ dir: d, memoryBytes: 0 }).get(id(1))!.equals(bundle)).toBe(true);
  });

  it("test_put_badKeys_refusedWithAClearError", () => {
    const cache = new InputCache({ dir: dir() });
    expect(() => cache.put("7", input(1).hash, input(1).bytes)).toThrow(/32-byte hex ids/);
    expect(() => new InputCache({ dir: dir(), maxBytes: 0 })).toThrow(/bounds/);
  });
});
