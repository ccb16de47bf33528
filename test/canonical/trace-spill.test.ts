/**
 * The streamed trace (canonical/trace.ts build, canonical/spill.ts): built step by step with each tensor
 * spilled to a temporary file, it answers byte for byte what the all-in-memory trace answers (roots,
 * openings, chunks, partial trees, operand reads), holds only the model outputs in memory, reads back
 * through a cache smaller than one tensor, leaves no file in its directory (unlinked once open), and
 * after close() reads nothing; runSteps with release gives
 * runProgram's tensors.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CanonicalTrace, lastReaders, runProgram, runSteps } from "../../canonical/index.js";
import { numel, type Tensor } from "../../protocol/index.js";
import { cls, clsInput } from "./trace-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "trace-spill-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe("streamed canonical trace", () => {
  it("test_build_spilled_everyAnswerByteIdenticalToInMemory_fileUnlinked_closedReadsNothing", () => {
    const program = cls();
    const input = clsInput();
    const memory = CanonicalTrace.build(program, input, { spill: false });
    const spilled = CanonicalTrace.build(program, input, { spill: dir, cacheBytes: 1 });
    const n = program.steps.length;
    expect(spilled.traceRoot).toBe(memory.traceRoot);
    expect(spilled.finalHash).toBe(memory.finalHash);
    expect(spilled.spilledBytes).toBeGreaterThan(0);
    // Only the output stays in memory: the held bytes drop by the spilled tensors.
    expect(spilled.heldBytes).toBe(memory.heldBytes - spilled.spilledBytes);
    for (let j = 0; j < n; j++) {
      expect(spilled.tensorOpening(j)).toEqual(memory.tensorOpening(j));
      const chunks = memory.trees[j]!.chunks.leafCount;
      for (const c of new Set([0, chunks >> 1, chunks - 1])) {
        expect(spilled.chunkBytes(j, c)).toBe(memory.chunkBytes(j, c));
        expect(spilled.chunkPath(j, c)).toEqual(memory.chunkPath(j, c));
      }
      // After the chunks (read from the file, step j not yet in the cache): the whole tensor.
      expect(bytes(spilled.tensor(j)).equals(bytes(memory.tensor(j)))).toBe(true);
      expect(Buffer.from(spilled.trees[j]!.data).equals(Buffer.from(memory.trees[j]!.data))).toBe(true);
    }
    const conv = program.steps.find((s) => s.kind === "reduce" && s.operands.some((o) => o.source === "step"))!;
    const e = numel(conv.output.shape) >> 1;
    expect(spilled.partialOpening(conv.index, e)).toEqual(memory.partialOpening(conv.index, e));
    expect(spilled.outputs.every((t, k) => bytes(t).equals(bytes(memory.outputs[k]!)))).toBe(true);
    // The file is unlinked once open (its descriptor holds the space): nothing is left in the directory.
    expect(readdirSync(dir)).toEqual([]);
    spilled.close();
    expect(() => spilled.tensor(0)).toThrow(/closed/);
    expect(() => spilled.tensor(n)).toThrow(RangeError);
    spilled.close(); // idempotent
  });

  it("test_runSteps_release_sameTensorsAsRunProgram_lastReadersAfterEachStep", () => {
    const program = cls();
    const input = clsInput();
    const { trace } = runProgram(program, input);
    const last = lastReaders(program);
    const seen: Tensor[] = [];
    runSteps(program, input, { release: true }, (j, t) => {
      expect(j).toBe(seen.length);
      seen.push(t);
    });
    expect(seen.length).toBe(trace.length);
    seen.forEach((t, j) => expect(bytes(t).equals(bytes(trace[j]!))).toBe(true));
    // Liveness: every step but the outputs is read by a later step, never by an earlier one.
    program.steps.forEach((s, j) => expect(last[j] === -1 || last[j]! > j).toBe(true));
    expect(last[program.steps.length - 1]).toBe(-1);
  });
});
