/**
 * Issue 11, scenario 10 (GPUs by default): onnxruntime's CUDA provider runs float32 MatMul/Conv in TF32 unless
 * `use_tf32` is 0. No GPU here, so TF32 is emulated the way canonical/float.ts defines it: the canonical program at
 * precision `tf32` rounds every contraction operand to a 10-bit mantissa (`roundOperand`) before the exact binary64
 * products. On the PP-OCR classifier:
 * - the TF32 output is beyond the model's registered τ_out (and τ_major) of the fp32 canonical output, while
 *   onnxruntime's CPU output is well within it: a worker that signed a TF32 output for an fp32 model loses the
 *   FraudGame (its canonical trace right, its output proven beyond τ by proveOutput), so the worker must not run
 *   fp32 models in TF32;
 * - the worker's config says so: `cudaTf32` defaults to false, and opening a cuda or tensorrt session then sets
 *   `NVIDIA_TF32_OVERRIDE=0` (onnxruntime-node passes only `deviceId` to the CUDA provider, so the environment is
 *   the one switch; the CUDA provider cannot load on this machine, so the session falls back to the CPU and the
 *   test checks the switch was set before the try).
 */
import { network } from "hardhat";
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalTermsOf, commitProgram, encodeStep, runProgram, roundOperand, toleranceCheck } from "../../canonical/index.js";
import { encodeTensor, type Tensor } from "../../protocol/index.js";
import { WorkerConfigSchema, gpuFloatPolicy, ProviderProber, TF32_OVERRIDE } from "../../worker/index.js";
import { maxDiff, ortRun } from "../canonical/helpers.js";
import { chunkProofOf, programPathOf } from "./game-proof-helpers.js";
import { clsWorld, CLS_PATH, commit, deployGame, MOVE_CLOCK, openDispute, RULING, type ClsWorld, type Connection } from "./game-fixture.js";

/** The classifier's registered terms (docs/OPTIMISTIC.md "Calibrated terms": 16 × the worst of 13 runtimes × 16 inputs). */
const REGISTERED = { outAbs: 9.5367431640625e-6, outRel: 0, majorAbs: 1.52587890625e-4, majorRel: 0 };

let conn: Connection;
let world: ClsWorld;
beforeAll(async () => {
  conn = await network.create();
  world = clsWorld();
});

describe("attack: a GPU worker multiplying float32 in TF32 (issue 11 scenario 10)", () => {
  it("test_tf32Output_beyondRegisteredTauOut_workerLosesTheGame", async () => {
    expect(roundOperand(1 + 2 ** -11, "tf32")).toBe(1); // 10-bit mantissa: 1 + 2^-11 rounds to 1 (ties to even)
    const fp32 = world.honest.tensors[world.honest.n - 1]!;
    const tf32: Tensor = runProgram(world.program, world.input, { precision: "tf32" }).output;
    const ort = await ortRun(readFileSync(CLS_PATH), world.program.input.name, world.input, "all");
    const dTf32 = maxDiff(tf32, fp32).abs;
    const dOrt = maxDiff(ort, fp32).abs;
    const tau = { abs: REGISTERED.outAbs, rel: REGISTERED.outRel };
    console.log(`tf32 vs canonical fp32: ${dTf32.toExponential(3)} (${(dTf32 / REGISTERED.outAbs).toFixed(0)}x τ_out); onnxruntime CPU: ${dOrt.toExponential(3)}`);
    expect(toleranceCheck(ort, fp32, tau).ok).toBe(true);
    expect(toleranceCheck(tf32, fp32, tau).ok).toBe(false);
    expect(dTf32).toBeGreaterThan(10 * REGISTERED.outAbs);

    // On the chain, with the registered terms: the TF32 output signed, the canonical fp32 trace committed.
    const registered = { ...world, terms: canonicalTermsOf(commitProgram(world.program, "fp32"), REGISTERED) };
    const fx = await deployGame(conn, registered);
    const { requestId } = await openDispute(fx, registered, tf32);
    await commit(fx, requestId, world.honest);
    const w = tf32.data as Float32Array;
    const c = fp32.data as Float32Array;
    let worst = 0;
    for (let i = 1; i < c.length; i++) if (Math.abs(w[i]! - c[i]!) > Math.abs(w[worst]! - c[worst]!)) worst = i;
    const last = world.honest.n - 1;
    await fx.game.connect(fx.challenger).proveOutput(requestId, worst, chunkProofOf(encodeTensor(tf32), worst, []), chunkProofOf(encodeTensor(fp32), worst, []), encodeStep(world.program.steps[last]!), programPathOf(world, last));
    await conn.networkHelpers.time.increase(MOVE_CLOCK + 1);
    await fx.game.resolve(requestId);
    const ruling = Number((await fx.oracle.disputes(requestId)).ruling);
    expect(ruling).toBe(dTf32 > REGISTERED.majorAbs ? RULING.WorkerFault : RULING.OutputMinor);
  }, 300_000);

  it("test_workerConfig_cudaTf32OffByDefault_gpuSessionSetsNvidiaTf32Override", async () => {
    expect(WorkerConfigSchema.shape.cudaTf32.parse(undefined)).toBe(false);
    expect(WorkerConfigSchema.shape.cudaTf32.parse("1")).toBe(true);
    const env: NodeJS.ProcessEnv = {};
    gpuFloatPolicy("cpu", {}, env);
    expect(env[TF32_OVERRIDE]).toBeUndefined();
    gpuFloatPolicy("cuda", { cudaTf32: true }, env);
    expect(env[TF32_OVERRIDE]).toBeUndefined();
    gpuFloatPolicy("tensorrt", {}, env);
    expect(env[TF32_OVERRIDE]).toBe("0");

    // The prober, told cuda is bundled: the switch is set before the cuda try (which fails here), then cpu opens.
    const saved = process.env[TF32_OVERRIDE];
    delete process.env[TF32_OVERRIDE];
    try {
      const prober = new ProviderProber({
        preferences: ["cuda", "cpu"],
        settings: { graphOptimizationLevel: "all", intraOpNumThreads: 1, cudaTf32: false },
        logger: pino({ level: "silent" }),
        listBackends: () => [
          { name: "cuda", bundled: true },
          { name: "cpu", bundled: true },
        ],
      });
      const opened = await prober.open(CLS_PATH);
      expect(process.env[TF32_OVERRIDE]).toBe("0");
      expect(opened.attempts[0]).toMatchObject({ provider: "cuda" });
      await opened.session.release?.();
    } finally {
      if (saved === undefined) delete process.env[TF32_OVERRIDE];
      else process.env[TF32_OVERRIDE] = saved;
    }
  }, 120_000);
});
