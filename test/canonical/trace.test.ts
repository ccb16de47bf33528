/**
 * The canonical trace (canonical/trace.ts): roots equal commitment.ts's traceRootOf and the tensor
 * hash, every producer's answer verifies against its root, the partial-state tree of a reduce element
 * is the K + 1 records of element.ts's fold (also at K = 2^20), and canonical/reads.ts names exactly
 * the operand elements each element, init and term reads.
 */
import { describe, expect, it } from "vitest";
import { foldPartials, mapElement, moveElement, reduceTerms, type OperandReader } from "../../canonical/element.js";
import { runProgram, traceRootOf, type Program, type Step } from "../../canonical/index.js";
import { decodePartial, partialLeaf, partialStates } from "../../canonical/partial.js";
import { elementReads, initReads, termCount, termReads } from "../../canonical/reads.js";
import { CanonicalTrace } from "../../canonical/trace.js";
import { fromHex, hashNode, merkleRoot, rootFromPath, sha256, encodeHeader, hashTensor, numel } from "../../protocol/index.js";
import { uniformTensor } from "./helpers.js";
import { cls, clsInput } from "./trace-fixtures.js";

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (a !== a && b !== b);
}

describe("canonical trace", () => {
  it("test_build_cls_rootsMatchCommitmentAndEveryProducerVerifies", () => {
    const program = cls();
    const input = clsInput();
    const trace = CanonicalTrace.build(program, input);
    const { trace: tensors, output } = runProgram(program, input);
    expect(trace.traceRoot).toBe(traceRootOf(tensors));
    expect(trace.finalHash).toBe(hashTensor(output));
    const root = fromHex(trace.traceRoot);
    // finalHash is leaf n−1 under traceRoot; every manifest node's children hash to it.
    const n = program.steps.length;
    expect(rootFromPath(fromHex(trace.finalHash), n - 1, trace.manifestPath(n - 1).map(fromHex)).equals(root)).toBe(true);
    for (let d = 0; d < trace.manifest.depth; d++)
      for (let i = 0; i < 2 ** d; i += 7) {
        const [l, r] = trace.manifestChildren(d, i);
        expect(hashNode(fromHex(l), fromHex(r)).equals(trace.manifest.node(d, i))).toBe(true);
      }
    // Every step: header + dataRoot hash to its leaf; a few chunks verify under dataRoot.
    for (let j = 0; j < n; j += 11) {
      const o = trace.tensorOpening(j);
      expect(fromHex(o.header).equals(encodeHeader(program.steps[j]!.output.dtype, program.steps[j]!.output.shape))).toBe(true);
      const leaf = sha256(Uint8Array.of(2), fromHex(o.header), fromHex(o.dataRoot));
      expect(rootFromPath(leaf, j, trace.manifestPath(j).map(fromHex)).equals(root)).toBe(true);
      const chunks = trace.trees[j]!.chunks.leafCount;
      for (const c of [0, chunks - 1]) {
        const bytes = fromHex(trace.chunkBytes(j, c));
        expect(rootFromPath(sha256(Uint8Array.of(0), bytes), c, trace.chunkPath(j, c).map(fromHex)).equals(fromHex(o.dataRoot))).toBe(true);
      }
    }
  });

  it("test_partial_clsReduceElements_kPlusOneRecordsOfElementFold", () => {
    const program = cls();
    const trace = CanonicalTrace.build(program, clsInput());
    let checked = 0;
    for (const step of program.steps.filter((s) => s.kind === "reduce")) {
      const n = numel(step.output.shape);
      for (const e of [0, n - 1, Math.floor(n / 2)]) {
        const r = reduceTerms(step, trace.reader(step.index), e, "fp32");
        const leaves = partialStates(r, step.output.dtype !== "float32").map(partialLeaf);
        const p = trace.partial(step.index, e);
        expect(p.terms).toBe(termCount(step));
        expect(p.tree.leafCount).toBe(p.terms + 1);
        expect(p.root.equals(merkleRoot(leaves))).toBe(true);
        // leaf 0 is the init; the opening's last record is leaf K and finalizes to the element.
        expect(decodePartial(p.record(0)).acc).toBe(r.init);
        const o = trace.partialOpening(step.index, e);
        expect(rootFromPath(sha256(Uint8Array.of(0), fromHex(o.last)), p.terms, o.lastPath.map(fromHex)).equals(p.root)).toBe(true);
        const last = decodePartial(fromHex(o.last));
        const element = (trace.tensor(step.index).data as Float32Array)[e]!;
        expect(same(Math.fround(last.count === 1 ? last.acc : last.acc / last.count), element)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it("test_partial_kTwoToThe20_oneElementTreeBuiltAndProven", () => {
    const K = 2 ** 20;
    const input = uniformTensor([1, K], 20, -1, 1);
    const step: Step = {
      index: 0,
      kind: "reduce",
      op: "reduce",
      operands: [{ source: "input" }],
      operandTypes: [{ dtype: "float32", shape: [1, K] }],
      output: { dtype: "float32", shape: [1, 1] },
      params: { fn: [0], axes: [1] },
      origin: { node: "#0 ReduceSum -> y", opType: "ReduceSum" },
    };
    const x = { name: "x", dtype: "float32" as const, shape: [1, K] };
    const y = { name: "y", dtype: "float32" as const, shape: [1, 1] };
    const program: Program = { input: x, inputs: [x], weights: [], steps: [step], output: y, outputs: [y] };
    const trace = CanonicalTrace.build(program, input);
    const t0 = performance.now();
    const p = trace.partial(0, 0);
    const ms = performance.now() - t0;
    expect(p.tree.leafCount).toBe(K + 1);
    expect(p.tree.depth).toBe(21);
    const states = foldPartials(reduceTerms(step, trace.reader(0), 0));
    for (const t of [0, 1, K >> 1, K]) {
      expect(decodePartial(p.record(t)).acc).toBe(states[t]);
      expect(rootFromPath(sha256(Uint8Array.of(0), p.record(t)), t, trace.partialPath(0, 0, t).map(fromHex)).equals(p.root)).toBe(true);
    }
    expect(Math.fround(states[K]!)).toBe((trace.tensor(0).data as Float32Array)[0]);
    console.log(`partial tree K = 2^20: ${ms.toFixed(0)} ms, ${(p.tree.bytes / 2 ** 20).toFixed(0)} MiB of nodes`);
  }, 120_000);

  it("test_reads_clsEveryStep_onlyTheNamedElementsReproduceElementTs", () => {
    const program = cls();
    const trace = CanonicalTrace.build(program, clsInput());
    // A reader that holds only the named elements (NaN elsewhere): the recomputation must still be exact.
    const only = (step: Step, reads: { operand: number; index: number }[]): OperandReader => (k) => {
      const full = trace.reader(step.index)(k);
      const keep = new Map(reads.filter((r) => r.operand === k).map((r) => [r.index, full[r.index]!]));
      return new Proxy({} as ArrayLike<number>, { get: (_, p) => (p === "length" ? full.length : typeof p === "string" && Number.isInteger(Number(p)) ? (keep.get(Number(p)) ?? NaN) : undefined) });
    };
    let checked = 0;
    for (const step of program.steps) {
      const n = numel(step.output.shape);
      for (const e of [0, n - 1, (step.index * 7919) % n]) {
        if (step.kind === "reduce") {
          const full = reduceTerms(step, trace.reader(step.index), e);
          const init = reduceTerms(step, only(step, initReads(step, e)), e);
          expect(same(init.init, full.init)).toBe(true);
          for (let t = 0; t < full.terms.length; t += Math.max(1, Math.floor(full.terms.length / 9))) {
            const part = reduceTerms(step, only(step, termReads(step, e, t)), e);
            expect(same(part.terms[t]!, full.terms[t]!), `step ${step.index} element ${e} term ${t}`).toBe(true);
            checked++;
          }
        } else {
          const read = only(step, elementReads(step, e));
          const v = step.kind === "map" ? mapElement(step, read, e) : moveElement(step, read, e);
          expect(same(v, (trace.tensor(step.index).data as Float32Array)[e]!), `step ${step.index} element ${e}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
