/**
 * Issue 11, scenario 3 as a class flip, caught on-chain (test/attacks/tolerance-drift.test.ts drifts every
 * conv/matmul element in one fixed direction and shows the descent finds it; here the drift is aimed).
 *
 * The input sits on the PP-OCR classifier's decision boundary: a blend α·line + (1 − α)·(the same line turned by
 * 180°), α bisected with onnxruntime until the two probabilities meet, then taken canonically. The cheater moves
 * the two logits of the last MatMul (K = 200) by 0.999 × today's v1 per-element bound (challenger/ops.ts
 * `allowedError`), each in the direction of the canonical loser, and recomputes every later step (bias, softmax)
 * canonically from them: v1's one-step check (`compareElement`, operands from the trace itself) accepts both
 * drifted elements and every later step is exact, yet the top-1 class differs from the canonical one.
 *
 * On the real InferenceOracle + FraudGame + StepVerifier, the worker's client serves that drifted trace (its
 * partial states spread each logit's drift over the fold, so every revealed node is consistent) and the
 * challenger's client, which computed the canonical output and saw it beyond τ_out, descends to the MatMul, the
 * differing logit and its first false partial state, and proves it with proveFold: WorkerFault.
 */
import { readFileSync } from "node:fs";
import { network } from "hardhat";
import ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Finding,
  toleranceCheck,
  finalizeReduce,
  foldPartials,
  reduceTerms,
  canonicalTermsOf,
  commitProgram,
  type Program,
  partialKindOf,
  CanonicalTrace,
  partialTreeOf,
  type PartialTree,
} from "../../canonical/index.js";
import { compareElement, allowedError, prepareOperator } from "../../challenger/index.js";
import { GAME_RULING, GameChallenger, GameWorker, type MoveRecord } from "../../protocol/fraud-game-client.js";
import { modelGraph, sha256, bytesToHex, hashTensor, type Tensor, type Hex } from "../../protocol/index.js";
import { responderFor } from "../../worker/index.js";
import { clsInput } from "../canonical/trace-fixtures.js";
import { deploy, modelInfo, PARAMS, requestAndSubmit, Ruling, send, type Fx } from "../contracts/helpers.js";
import { CLS_PATH, CLS_SHAPE, MAX_ATTACKS, MOVE_CLOCK, RESPONSE_TIME, stepVerifierAddress, type Connection } from "./game-fixture.js";
import { runStep, within } from "./drift-helpers.js";

/** The classifier's registered terms (docs/OPTIMISTIC.md "Calibrated terms": 16 × the worst of 13 runtimes × 16 inputs). */
const REGISTERED = { outAbs: 9.5367431640625e-6, outRel: 0, majorAbs: 1.52587890625e-4, majorRel: 0 };

const bytes = readFileSync(CLS_PATH);
let conn: Connection;
beforeAll(async () => {
  conn = await network.create();
});

/** A cheater whose partial states spread each element's drift over the fold (so every reveal is consistent). */
class DriftResponder extends CanonicalTrace {
  protected override buildPartial(j: number, e: number): PartialTree {
    const step = this.program.steps[j]!;
    const r = reduceTerms(step, this.reader(j), e, this.precision);
    const integer = step.output.dtype !== "float32";
    const states = foldPartials(r, integer);
    const K = r.terms.length;
    const claimed = (this.tensor(j).data as Float32Array)[e]!;
    if (!Object.is(finalizeReduce(step, r, states[K]!, this.precision), claimed)) {
      const delta = claimed - states[K]!;
      for (let t = 1; t <= K; t++) states[t] = states[t]! + (delta * t) / K;
      states[K] = claimed;
    }
    return partialTreeOf(j, e, partialKindOf(r, integer), r.count, states);
  }
}

/** The [1,3,48,192] line turned by 180° (both spatial axes reversed). */
function turned(t: Tensor): Tensor {
  const [, c, h, w] = t.shape as [number, number, number, number];
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(k * h + y) * w + x] = src[(k * h + (h - 1 - y)) * w + (w - 1 - x)]!;
  return { ...t, data: out };
}
const blend = (a: Tensor, b: Tensor, alpha: number): Tensor => ({ ...a, data: (a.data as Float32Array).map((v, i) => Math.fround(alpha * v + (1 - alpha) * (b.data as Float32Array)[i]!)) });
const margin = (out: Tensor) => (out.data as Float32Array)[0]! - (out.data as Float32Array)[1]!;

describe("attack: tolerance drift aimed at the class (issue 11 scenario 3)", () => {
  it("test_toleranceDrift_boundaryInput_lastMatMulDrifted_classFlips_v1Accepts_gameProvesWorkerFault", async () => {
    const up = clsInput("Drift by design");
    const down = turned(up);
    // Bisect α on onnxruntime: margin(α = 1) and margin(α = 0) have opposite signs.
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", intraOpNumThreads: 1 });
    const ortMargin = async (x: Tensor) => {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", x.data as Float32Array, x.shape) });
      const d = out[session.outputNames[0]!]!.data as Float32Array;
      return d[0]! - d[1]!;
    };
    let lo = 0;
    let hi = 1;
    const mLo = await ortMargin(blend(up, down, lo));
    expect(Math.sign(mLo)).not.toBe(Math.sign(await ortMargin(blend(up, down, hi))));
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (Math.sign(await ortMargin(blend(up, down, mid))) === Math.sign(mLo)) lo = mid;
      else hi = mid;
    }
    await session.release();
    const input = blend(up, down, (lo + hi) / 2);

    // The honest canonical trace on that input.
    const program = (await import("../../canonical/index.js")).lowerModel(bytes, { inputShape: CLS_SHAPE });
    const honest = CanonicalTrace.build(program, input);
    const n = program.steps.length;
    const outC = honest.tensor(n - 1);
    const mC = margin(outC);

    // The drift: the last MatMul's two logits, each by 0.999 × the v1 bound towards the canonical loser.
    const mm = program.steps.filter((s) => s.op === "matmul").at(-1)!;
    const graph = modelGraph(bytes);
    const onnx = graph.operators[Number(/^#(\d+) /.exec(mm.origin.node)![1])]!;
    const operandTensors = mm.operands.map((o) => (o.source === "input" ? input : o.source === "weight" ? program.weights[o.index]!.tensor : honest.tensor(o.index)));
    const kernel = prepareOperator(onnx.opType, { inputs: operandTensors, attributes: new Map(onnx.attributes.map((a) => [a.name, a])), opset: onnx.opset }, onnx.domain);
    const drifted = honest.tensors.slice();
    const logits = Float32Array.from(honest.tensor(mm.index).data as Float32Array);
    const towardLoser = mC > 0 ? [-1, 1] : [1, -1];
    let v1Accepted = 0;
    for (let e = 0; e < 2; e++) {
      const el = kernel.element(0, e);
      const bound = allowedError(kernel, el);
      logits[e] = within(el.value as number, (el.value as number) + towardLoser[e]! * 0.999 * bound, bound);
      if (compareElement(kernel, logits[e]!, el).ok) v1Accepted++;
    }
    drifted[mm.index] = { ...honest.tensors[mm.index]!, data: logits };
    for (let j = mm.index + 1; j < n; j++) drifted[j] = runStep(program, j, drifted, input);
    const outW = drifted[n - 1]!;
    const mW = margin(outW);
    console.log(`boundary α ${((lo + hi) / 2).toFixed(9)}: canonical [${[...(outC.data as Float32Array)]}] margin ${mC.toExponential(3)}; drifted [${[...(outW.data as Float32Array)]}] margin ${mW.toExponential(3)}; logits moved by ${[0, 1].map((e) => (logits[e]! - (honest.tensor(mm.index).data as Float32Array)[e]!).toExponential(2))}`);
    // v1 accepts both drifted logits; the class differs from the canonical one.
    expect(v1Accepted).toBe(2);
    expect(Math.sign(mW)).toBe(-Math.sign(mC));
    expect(mC).not.toBe(0);
    // The signed (drifted) output is beyond the registered τ_out of canonical: the challenger disputes.
    expect(toleranceCheck(outW, outC, { abs: REGISTERED.outAbs, rel: REGISTERED.outRel }).ok).toBe(false);

    // On-chain: oracle + FraudGame + StepVerifier, the classifier's canonical terms registered.
    const fx: Fx = await deploy(conn);
    const verifier = await stepVerifierAddress(conn);
    const game: any = await fx.ethers.deployContract("FraudGame", [fx.oracleAddr, await fx.registry.getAddress(), verifier.address, RESPONSE_TIME, MOVE_CLOCK, MAX_ATTACKS]);
    const gameAddr: string = await game.getAddress();
    const modelHash = bytesToHex(sha256(bytes));
    await send(fx.registry.connect(fx.admin).setResolverApproval(gameAddr, true));
    await send(fx.registry.connect(fx.modelOwner).registerModel(modelHash, modelInfo({ resolver: gameAddr, tiers: 3 })));
    await send(fx.registry.connect(fx.modelOwner).setCanonicalTerms(modelHash, canonicalTermsOf(commitProgram(program, "fp32"), REGISTERED)));
    const { id, rec } = await requestAndSubmit(fx, 0, { modelHash, inputHash: hashTensor(input), outputHash: hashTensor(outW) });
    await send(fx.oracle.connect(fx.challenger).challenge(id, rec, [], { value: PARAMS.challengeBond }));
    const moves: MoveRecord[] = [];
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const worker = new GameWorker(gameAddr, fx.ops[0]!, fx.signers[0]!, { onMove: (m) => moves.push(m), wait: () => sleep(5) });
    const challenger = new GameChallenger(gameAddr, fx.challenger, {
      onMove: (m) => moves.push(m),
      wait: async (reason) => {
        if (reason === "clock") await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
        else await sleep(5);
      },
      maxPolls: 2000,
    });
    const cheat = new DriftResponder(program, input, drifted, "fp32");
    const [wRuling, play] = await Promise.all([worker.respond(responderFor(cheat, id as Hex, 0)), challenger.play(id as Hex, honest, outW)]);
    expect(play.outcome).toBe("leafProof");
    const f = play.descent!.finding as Extract<Finding, { kind: "partial" }>;
    expect(f.kind).toBe("partial");
    expect(f.claim.step).toBe(mm.index);
    expect(play.ruling).toBe(GAME_RULING.WorkerFault);
    expect(wRuling).toBe(GAME_RULING.WorkerFault);
    expect((await fx.oracle.getDispute(id, 0)).ruling).toBe(BigInt(Ruling.WorkerFault));
    const gas = moves.reduce((a, m) => a + m.gas, 0n);
    console.log(`caught: step ${f.claim.step} (matmul) element ${f.claim.element} partial leaf ${f.t} of K = 200: ${play.descent!.rounds} rounds, ${moves.length} moves, ${gas} gas`);
  }, 300_000);
});
