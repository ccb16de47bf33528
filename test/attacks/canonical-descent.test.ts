/**
 * The challenger's descent (canonical/descent.ts) end to end in TypeScript on the real cls program:
 * the worker is simulated as an honest or cheating responder over canonical/trace.ts's producers; each
 * leaf proof is checked as the game checks it (`checkFinding`: Merkle paths, then element.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  checkFinding,
  descend,
  elementFromChunk,
  type Finding,
  reduceTerms,
  BF16,
  roundTo,
  lowerModel,
  termCount,
  CanonicalTrace,
  FlatTree,
} from "../../canonical/index.js";
import { fromHex, rootFromPath, sha256, bytesToHex, type Hex, numel, type Tensor } from "../../protocol/index.js";
import { cls, clsInput, editTensor, leafContext, recording, ResponderTrace } from "../canonical/trace-fixtures.js";

function expectKind<K extends Finding["kind"]>(f: Finding, kind: K): Extract<Finding, { kind: K }> {
  expect(f.kind, JSON.stringify(f).slice(0, 300)).toBe(kind);
  return f as Extract<Finding, { kind: K }>;
}

describe("canonical descent", () => {
  const program = cls();
  const input = clsInput();
  const mine = CanonicalTrace.build(program, input);
  const mapStep = program.steps.find((s) => s.index > 100 && s.kind === "map" && s.output.dtype === "float32" && numel(s.output.shape) > 2000)!;
  const convStep = program.steps.find((s) => s.index > 80 && s.op === "conv" && numel(s.output.shape) > 1000 && termCount(s) >= 64)!;

  it("test_fixtures_stepsPicked", () => {
    expect([mapStep.index, convStep.index]).toEqual([expect.any(Number), expect.any(Number)]);
    expect(numel(convStep.output.shape)).toBeGreaterThan(77);
  });

  it("test_descend_honestWorker_agreesAndNothingToProve", async () => {
    const worker = new ResponderTrace(program, input, mine.tensors.slice());
    const r = await descend(mine, worker);
    expect(r.finding.kind).toBe("agree");
    expect(r.rounds).toBe(0);
  });

  it("test_descend_flippedElementInMiddleMapStep_pinpointsStepAndElement_leafProofFaults", async () => {
    const e = 1234 % numel(mapStep.output.shape);
    const tensors = editTensor(mine.tensors, mapStep.index, (d) => (d[e] = Math.fround(d[e]! + 0.25)));
    const worker = new ResponderTrace(program, input, tensors);
    const r = await descend(mine, worker);
    const f = expectKind(r.finding, "element");
    expect(f.claim.step).toBe(mapStep.index);
    expect(f.claim.element).toBe(e);
    expect(r.rounds).toBe(mine.manifest.depth + 1 + mine.trees[mapStep.index]!.chunks.depth + 1);
    const verdict = checkFinding(f, program, leafContext(program, input, worker.traceRoot));
    expect(verdict).toMatchObject({ valid: true, fault: true });
    expect(verdict.recomputed).toBe((mine.tensor(mapStep.index).data as Float32Array)[e]);
    // The same proof against the canonical trace's root is not valid: paths bind the worker's tree.
    expect(checkFinding(f, program, leafContext(program, input, mine.traceRoot)).valid).toBe(false);
  });

  it("test_descend_wrongPartialStateInsideOneReduction_pinpointsExactLeaf_pathOfLeafTMinus1FromOwnNodes", async () => {
    const j = convStep.index;
    const e = 77;
    const t0 = 40;
    const r0 = reduceTerms(convStep, mine.reader(j), e);
    expect(r0.terms.length).toBeGreaterThan(t0 + 8);
    // The cheater's fold: honest up to t0 − 1, a wrong state t0, then honest folds from it; the element is its finalize.
    const states = mine.partial(j, e).states.slice();
    states[t0] = states[t0]! + 0.5;
    for (let t = t0 + 1; t < states.length; t++) states[t] = states[t - 1]! + r0.terms[t - 1]!;
    const tensors = editTensor(mine.tensors, j, (d) => (d[e] = Math.fround(states[states.length - 1]!)));
    const cheater = new ResponderTrace(program, input, tensors);
    cheater.setPartialStates(j, e, states);
    const { claims, partialRevealed } = recording(cheater);
    const r = await descend(mine, claims);
    const f = expectKind(r.finding, "partial");
    expect(f.claim.step).toBe(j);
    expect(f.claim.element).toBe(e);
    expect(f.t).toBe(t0);
    const verdict = checkFinding(f, program, leafContext(program, input, cheater.traceRoot));
    expect(verdict).toMatchObject({ valid: true, fault: true });
    // Leaf t−1's path under the worker's root is exactly the worker's own path, although the worker
    // never revealed some of its nodes: those came from the challenger's matching tree.
    const workerTree = cheater.partial(j, e).tree;
    const D = workerTree.depth;
    expect(f.prev!.path).toEqual(workerTree.path(t0 - 1).map((b) => `0x${b.toString("hex")}`));
    const siblings = Array.from({ length: D }, (_, k) => `${D - k}:${((t0 - 1) >> k) ^ 1}`);
    const fromOwn = siblings.filter((key) => !partialRevealed.has(key));
    expect(fromOwn.length).toBeGreaterThan(0);
    for (const key of fromOwn) {
      const [d, i] = key.split(":").map(Number) as [number, number];
      expect(mine.partial(j, e).tree.node(d, i).equals(workerTree.node(d, i))).toBe(true);
    }
    expect(rootFromPath(sha256(Uint8Array.of(0), fromHex(f.prev!.record)), t0 - 1, f.prev!.path.map(fromHex)).equals(fromHex(f.partialRoot))).toBe(true);
    console.log(`partial descent: step ${j} (K = ${r0.terms.length}) element ${e} leaf ${f.t}: ${r.rounds} rounds, ${r.reveals} reveals`);
  });

  it("test_descend_flippedConvElementWithHonestFoldAndForgedLast_caughtAtLeafK", async () => {
    const j = convStep.index;
    const e = 5;
    const states = mine.partial(j, e).states.slice();
    const K = states.length - 1;
    states[K] = states[K]! + 1;
    const tensors = editTensor(mine.tensors, j, (d) => (d[e] = Math.fround(states[K]!)));
    const cheater = new ResponderTrace(program, input, tensors);
    cheater.setPartialStates(j, e, states);
    const f = expectKind((await descend(mine, cheater)).finding, "partial");
    expect(f.t).toBe(K);
    expect(checkFinding(f, program, leafContext(program, input, cheater.traceRoot))).toMatchObject({ valid: true, fault: true });
  });

  it("test_descend_partialOpeningThatDoesNotFinalizeToTheElement_isABadReveal", async () => {
    const j = convStep.index;
    const e = 9;
    // The element is changed but the worker reveals the honest fold: its last leaf cannot finalize to the claim.
    const tensors = editTensor(mine.tensors, j, (d) => (d[e] = Math.fround(d[e]! * 2 + 1)));
    const r = await descend(mine, new ResponderTrace(program, input, tensors));
    expect(r.finding).toMatchObject({ kind: "badReveal" });
  });

  it("test_descend_wrongHeader_headerFinding", async () => {
    const j = mapStep.index;
    const tensors = mine.tensors.slice();
    const t = tensors[j]!;
    tensors[j] = { ...t, shape: [numel(t.shape)] }; // same bytes, another shape
    const worker = new ResponderTrace(program, input, tensors);
    const f = expectKind((await descend(mine, worker)).finding, "header");
    expect(f.step).toBe(j);
    expect(checkFinding(f, program, leafContext(program, input, worker.traceRoot))).toMatchObject({ valid: true, fault: true });
  });

  it("test_descend_extraManifestLeafPastTheLastStep_paddingFinding", async () => {
    // A worker whose manifest has a leaf n (past the last step) where the tree must hold the zero node.
    const leaves = Array.from({ length: mine.stepCount }, (_, j) => mine.manifest.leaf(j));
    const forged = FlatTree.fromLeaves([...leaves, sha256(Buffer.from("extra"))]);
    expect(forged.depth).toBe(mine.manifest.depth);
    const claims = {
      traceRoot: bytesToHex(forged.root),
      finalHash: mine.finalHash,
      manifestChildren: (d: number, i: number) => forged.children(d, i).map(bytesToHex) as [Hex, Hex],
      tensorOpening: (j: number) => mine.tensorOpening(j),
      chunkChildren: (j: number, d: number, i: number) => mine.chunkChildren(j, d, i),
      chunkBytes: (j: number, c: number) => mine.chunkBytes(j, c),
      partialOpening: (j: number, e: number) => mine.partialOpening(j, e),
      partialChildren: (j: number, e: number, d: number, i: number) => mine.partialChildren(j, e, d, i),
    };
    const f = expectKind((await descend(mine, claims)).finding, "padding");
    expect(f.leaf).toBe(mine.stepCount);
    expect(checkFinding(f, program, leafContext(program, input, claims.traceRoot))).toMatchObject({ valid: true, fault: true });
  });

  it("test_checkFinding_innerNodePassedOffAsPartialLeafWithShortPath_refused", async () => {
    // A lying challenger (a forged last state of its own) against an honest worker, then it tries to
    // pass an inner node of the worker's partial tree off as a leaf (a path one level short).
    const j = convStep.index;
    const e = 11;
    const states = mine.partial(j, e).states.slice();
    const K = states.length - 1;
    states[K] = states[K]! + 1;
    const liar = new ResponderTrace(program, input, editTensor(mine.tensors, j, (d) => (d[e] = Math.fround(states[K]!))));
    liar.setPartialStates(j, e, states);
    const honest = new ResponderTrace(program, input, mine.tensors.slice());
    const f = expectKind((await descend(liar, honest)).finding, "partial");
    const ctx = leafContext(program, input, honest.traceRoot);
    expect(checkFinding(f, program, ctx)).toMatchObject({ valid: true, fault: false });
    const tree = honest.partial(j, e).tree;
    const t = K >> 1;
    const forged = { ...f, t, leaf: { hash: bytesToHex(tree.node(tree.depth - 1, t)), path: tree.path(2 * t).slice(1).map(bytesToHex) }, prev: { record: bytesToHex(honest.partial(j, e).record(t - 1)), path: tree.path(t - 1).map(bytesToHex) }, reads: f.reads };
    // Without the fixed path length this inner node would verify under the root.
    expect(rootFromPath(fromHex(forged.leaf.hash), t, forged.leaf.path.map(fromHex)).equals(tree.root)).toBe(true);
    expect(checkFinding(forged, program, ctx)).toMatchObject({ valid: false, reason: "leaf t not under the partial root" });
  });

  it("test_descend_lyingChallengerAgainstHonestWorker_proofHoldsButNoFault", async () => {
    // A challenger whose own trace is wrong (one element of the map step) attacks an honest worker:
    // its leaf proof verifies, and the recomputation sides with the worker.
    const e = 99;
    const wrong = new ResponderTrace(program, input, editTensor(mine.tensors, mapStep.index, (d) => (d[e] = -d[e]! - 1)));
    const honest = new ResponderTrace(program, input, mine.tensors.slice());
    const f = expectKind((await descend(wrong, honest)).finding, "element");
    const v = checkFinding(f, program, leafContext(program, input, honest.traceRoot));
    expect(v).toMatchObject({ valid: true, fault: false });
    expect(v.claimed).toBe(elementFromChunk("float32", fromHex(f.claim.chunk.bytes), e));
  });
});

describe("canonical descent: integer and narrow precisions", () => {
  it("test_descend_mnistInt8_flippedIntegerMatmulElement_isumFoldCaught", async () => {
    const program = lowerModel(readFileSync("models/mnist-mlp.onnx"));
    const input: Tensor = { dtype: "int8", shape: [1, 7, 7], data: new Int8Array(49).map((_, i) => ((i * 53) % 256) - 128) };
    const mine = CanonicalTrace.build(program, input);
    const mm = program.steps.find((s) => s.kind === "reduce" && s.output.dtype === "int32")!;
    const e = 3;
    const states = mine.partial(mm.index, e).states.slice();
    const K = states.length - 1;
    for (let t = 10; t <= K; t++) states[t] = (states[t]! + 7) | 0;
    const tensors = mine.tensors.slice();
    const data = (tensors[mm.index]!.data as Int32Array).slice();
    data[e] = states[K]!;
    tensors[mm.index] = { ...tensors[mm.index]!, data };
    const cheater = new ResponderTrace(program, input, tensors);
    cheater.setPartialStates(mm.index, e, states, "isum");
    const f = expectKind((await descend(mine, cheater)).finding, "partial");
    expect([f.claim.step, f.claim.element, f.t]).toEqual([mm.index, e, 10]);
    expect(checkFinding(f, program, leafContext(program, input, cheater.traceRoot))).toMatchObject({ valid: true, fault: true });
  });

  for (const precision of ["tf32", "bf16"] as const) {
    it(`test_descend_cls_${precision}_flippedConvElementCaught_honestAgrees`, async () => {
      const program = cls();
      const input = clsInput(`precision ${precision}`);
      const mine = CanonicalTrace.build(program, input, { precision });
      expect((await descend(mine, new ResponderTrace(program, input, mine.tensors.slice(), precision))).finding.kind).toBe("agree");
      const conv = program.steps.find((s) => s.op === "conv" && s.index > 20 && numel(s.output.shape) > 100)!;
      const states = mine.partial(conv.index, 50).states.slice();
      const K = states.length - 1;
      states[K] = states[K]! + 0.5;
      const cheater = new ResponderTrace(program, input, editTensor(mine.tensors, conv.index, (d) => (d[50] = precision === "bf16" ? roundTo(states[K]!, BF16) : Math.fround(states[K]!))), precision);
      cheater.setPartialStates(conv.index, 50, states);
      const f = expectKind((await descend(mine, cheater)).finding, "partial");
      expect(f.t).toBe(K);
      const verdict = checkFinding(f, program, leafContext(program, input, cheater.traceRoot, precision));
      expect(verdict).toMatchObject({ valid: true, fault: true });
    });
  }
});

