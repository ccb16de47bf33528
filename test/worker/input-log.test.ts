/**
 * worker/input-log.ts, the input cache's append-only log: a torn tail (a crash mid-write) is found and cut on
 * reopen and the records before it kept; a restart rebuilds the same entries in the same order; the files stay
 * bounded (segments rotated, emptied ones deleted, the oldest compacted); a process killed while writing leaves
 * every input whose write it had seen finish.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { encodeTensor, hashEncoded } from "../../protocol/index.js";
import { InputCache } from "../../worker/input-cache.js";
import { RECORD_HEADER_BYTES } from "../../worker/input-log.js";

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "input-log-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
function input(n: number, elements = 16) {
  const bytes = encodeTensor({ dtype: "float32", shape: [elements], data: Float32Array.from({ length: elements }, (_, i) => n + i / 8) });
  return { bytes, hash: hashEncoded(bytes) };
}
const RECORD = RECORD_HEADER_BYTES + input(0).bytes.byteLength;

async function filled(d: string, count: number, options: { segmentBytes?: number } = {}): Promise<void> {
  const cache = new InputCache({ dir: d, memoryBytes: 0, ...options });
  for (let n = 1; n <= count; n++) await cache.put(id(n), input(n).hash, input(n).bytes);
  await cache.close();
}

function logFile(d: string): string {
  const files = readdirSync(d).filter((n) => n.endsWith(".log")).sort();
  return join(d, files.at(-1)!);
}

function servesAll(cache: InputCache, ns: number[]): void {
  expect(cache.ids()).toEqual(ns.map(id));
  for (const n of ns) expect(cache.get(id(n))!.equals(input(n).bytes)).toBe(true);
}

describe("worker input log", () => {
  it("test_reopen_tornTailRecord_detectedCutAndIgnored_earlierKept_appendsContinue", async () => {
    // Cut inside the last record's bytes, then inside its header: each a crash mid-write.
    for (const cut of [10, RECORD - 40]) {
      const d = dir();
      await filled(d, 3);
      const file = logFile(d);
      truncateSync(file, 3 * RECORD - cut);
      const cache = new InputCache({ dir: d, memoryBytes: 0 });
      servesAll(cache, [1, 2]);
      expect(statSync(file).size).toBe(2 * RECORD); // the torn tail is gone: the next record follows the last good one
      await cache.put(id(4), input(4).hash, input(4).bytes);
      await cache.close();
      servesAll(new InputCache({ dir: d, memoryBytes: 0 }), [1, 2, 4]);
    }
  });

  it("test_reopen_tailOfZeros_lengthLandedBeforeData_skippedAndCut", async () => {
    const d = dir();
    await filled(d, 3);
    const file = logFile(d);
    const fd = openSync(file, "r+");
    // The last record's bytes never landed (zeros where the input was), and the file grew past it.
    writeSync(fd, Buffer.alloc(RECORD - RECORD_HEADER_BYTES), 0, RECORD - RECORD_HEADER_BYTES, 2 * RECORD + RECORD_HEADER_BYTES);
    writeSync(fd, Buffer.alloc(500), 0, 500, 3 * RECORD);
    closeSync(fd);
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    servesAll(cache, [1, 2]);
    expect(statSync(file).size).toBe(3 * RECORD);
  });

  it("test_reopen_corruptHeaderInTheMiddle_recordsBeforeKept_neverAMisreadRecord", async () => {
    const d = dir();
    await filled(d, 4);
    const file = logFile(d);
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.from([0xff]), 0, 1, RECORD + 30); // a bit of record 2's header (its id) changed
    closeSync(fd);
    // Records after a bad header cannot be located: the log keeps what comes before it.
    servesAll(new InputCache({ dir: d, memoryBytes: 0 }), [1]);
  });

  it("test_restart_sameEntriesSameOrder_deletesAndEvictionsKept", async () => {
    const d = dir();
    const cache = new InputCache({ dir: d, memoryBytes: 0, maxEntries: 4 });
    for (let n = 1; n <= 6; n++) await cache.put(id(n), input(n).hash, input(n).bytes);
    cache.delete(id(4));
    await cache.put(id(3), input(3).hash, input(3).bytes); // put again: now the newest
    await cache.close();
    servesAll(new InputCache({ dir: d, memoryBytes: 0, maxEntries: 4 }), [5, 6, 3]);
  });

  it("test_bounds_segmentsRotatedAndCompacted_filesStayBounded_restartServesTheSame", async () => {
    const d = dir();
    const segmentBytes = 4 * RECORD;
    const maxBytes = 8 * (RECORD - RECORD_HEADER_BYTES); // 8 live inputs
    const bound = maxBytes + 2 * segmentBytes;
    const cache = new InputCache({ dir: d, memoryBytes: 0, maxBytes, segmentBytes });
    let most = 0;
    // Every fifth input stays (a request not yet settled); the others settle at once: each segment keeps one
    // live input among dead ones, so the files only stay bounded if the oldest segments are compacted.
    for (let n = 1; n <= 80; n++) {
      await cache.put(id(n), input(n).hash, input(n).bytes);
      if (n % 5 !== 0) cache.delete(id(n));
      await cache.flush();
      most = Math.max(most, cache.fileBytes);
    }
    const kept = [45, 50, 55, 60, 65, 70, 75, 80]; // the newest 8: the older ones were evicted by maxBytes
    servesAll(cache, kept);
    expect(most).toBeLessThanOrEqual(bound);
    expect(readdirSync(d).filter((n) => n.endsWith(".log")).length).toBeLessThanOrEqual(bound / segmentBytes + 1);
    await cache.close();
    const again = new InputCache({ dir: d, memoryBytes: 0, maxBytes, segmentBytes });
    servesAll(again, kept);
    expect(again.fileBytes).toBeLessThanOrEqual(bound);
  });

  it("test_crash_processKilledWhileWriting_everyFinishedPutKept_restConsistent", async () => {
    const d = dir();
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "input-log-child.ts"), d], { stdio: ["ignore", "pipe", "inherit"] });
    const done = new Set<number>();
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        for (const line of chunk.split("\n")) if (line !== "") done.add(Number(line));
        if (done.size >= 200) resolve();
      });
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const cache = new InputCache({ dir: d, memoryBytes: 0 });
    const held = new Set(cache.ids().map((x) => Number(BigInt(x))));
    for (const n of done) expect(held.has(n)).toBe(true);
    for (const n of held) {
      const bytes = encodeTensor({ dtype: "float32", shape: [16_384], data: new Float32Array(16_384).fill(n) });
      expect(cache.get(id(n))!.equals(bytes)).toBe(true);
    }
    // Appending after the crash continues the log: the next restart still has everything.
    await cache.put(id(1_000_000), input(1).hash, input(1).bytes);
    await cache.close();
    expect(new InputCache({ dir: d, memoryBytes: 0 }).size).toBe(held.size + 1);
  }, 30_000);
});

describe("worker input log: one writer per folder", () => {
  it("test_open_folderHeldInThisProcess_secondCacheGetsItsOwnSubfolder_importedWhenItsProcessIsGone", async () => {
    const d = dir();
    const first = new InputCache({ dir: d, memoryBytes: 0 });
    const second = new InputCache({ dir: d, memoryBytes: 0 }); // a second worker in the same process, same folder
    expect(first.dir).toBe(d);
    expect(second.dir).toMatch(/instance-\d+-\d+$/);
    await Promise.all([first.put(id(1), input(1).hash, input(1).bytes), second.put(id(2), input(2).hash, input(2).bytes)]);
    await first.put(id(3), input(3).hash, input(3).bytes);
    servesAll(first, [1, 3]);
    servesAll(second, [2]);
    await second.close();
    await first.close();
    // The folder's next owner takes in what the subfolder held (its cache closed: the lock is gone) and removes it.
    const again = new InputCache({ dir: d, memoryBytes: 0 });
    servesAll(again, [1, 3, 2]);
    expect(readdirSync(d).filter((n) => n.startsWith("instance-"))).toEqual([]);
  });

  it("test_open_lockOfALiveOtherProcess_keptApart_lockOfADeadOne_takenOver", async () => {
    const d = dir();
    writeFileSync(join(d, "lock"), String(process.ppid)); // a live process that is not this one
    const apart = new InputCache({ dir: d, memoryBytes: 0 });
    expect(apart.dir).not.toBe(d);
    await apart.close();
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => gone.once("exit", resolve));
    writeFileSync(join(d, "lock"), String(gone.pid)); // a crashed worker's lock
    const owner = new InputCache({ dir: d, memoryBytes: 0 });
    expect(owner.dir).toBe(d);
    await owner.close();
  });
});
