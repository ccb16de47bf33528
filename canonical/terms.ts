/**
 * A model's registered canonical terms (ModelRegistry.setCanonicalTerms, set once): its program lowered from the
 * ONNX file and committed (commitProgram), τ_out and τ_major calibrated against onnxruntime (calibrate.ts:
 * every optimization level and thread count of onnxruntime-node; 16x the worst deviation, τ_major 16x τ_out).
 * What `oracle dev` and the local stack register; a calibration is cached in `cacheDir` by program commitment
 * (it only depends on the file, the shape and the held inputs), so a later start reads it back.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calibrate, type HeldInput } from "./calibrate.js";
import { canonicalTermsOf, commitProgram, type CanonicalTermsArgs } from "./commitment.js";
import type { Precision } from "./float.js";
import { lowerModel } from "./lower.js";

export interface CalibratedTerms extends CanonicalTermsArgs {
  tauOut: { abs: number; rel: number };
  tauMajor: { abs: number; rel: number };
}

export interface CalibratedTermsOptions {
  inputShape: number[];
  /** Real held inputs (labels name them in the cache key). */
  inputs?: HeldInput[];
  seeded?: number;
  range?: [number, number];
  precision?: Precision;
  /** Where calibrations are cached (absent: not cached). */
  cacheDir?: string;
}

export async function calibratedTerms(bytes: Uint8Array, o: CalibratedTermsOptions): Promise<CalibratedTerms> {
  const program = lowerModel(bytes, { inputShape: o.inputShape });
  const commitment = commitProgram(program, o.precision ?? "fp32");
  const seeded = o.seeded ?? 2;
  const key = `${commitment.commitment.slice(2, 18)}-${(o.inputs ?? []).map((i) => i.label.replace(/[^A-Za-z0-9.-]/g, "_")).join("+")}-s${seeded}`;
  const file = o.cacheDir === undefined ? undefined : join(o.cacheDir, `tau-${key}.json`);
  let tol: Pick<CalibratedTerms, "tauOut" | "tauMajor"> | undefined;
  if (file !== undefined && existsSync(file)) {
    try {
      tol = JSON.parse(readFileSync(file, "utf8")) as typeof tol;
    } catch {
      tol = undefined;
    }
  }
  if (tol === undefined) {
    const c = await calibrate(bytes, program, {
      inputShape: o.inputShape,
      ...(o.inputs === undefined ? {} : { inputs: o.inputs }),
      seeded,
      ...(o.range === undefined ? {} : { range: o.range }),
      ...(o.precision === undefined ? {} : { precision: o.precision }),
      wasm: false,
      webgpu: false,
      tf32: false,
    });
    tol = { tauOut: { abs: c.tauOut.abs, rel: c.tauOut.rel }, tauMajor: { abs: c.tauMajor.abs, rel: c.tauMajor.rel } };
    if (file !== undefined) {
      mkdirSync(o.cacheDir!, { recursive: true });
      writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(tol));
      renameSync(`${file}.${process.pid}.tmp`, file);
    }
  }
  return { ...canonicalTermsOf(commitment, { outAbs: tol.tauOut.abs, outRel: tol.tauOut.rel, majorAbs: tol.tauMajor.abs, majorRel: tol.tauMajor.rel }), ...tol };
}
