/**
 * Peak memory of building a model's OPTIMISTIC commitment (the target: a model of 100 MB of
 * weights commits in under 2 GB). Generates a synthetic float32 MLP (`--layers` MatMul + Relu layers of
 * `--width`² weights, raw little-endian data: 25 × 1024² × 4 bytes = 100 MiB by default) into a temp
 * dir (never committed), then runs `oracle model check --no-calibrate --no-onchain --json` on it in a
 * child process under /usr/bin/time -v and prints the check's own figure (the process's RSS high-water
 * mark right after lowering + commitment, before onnxruntime is loaded for the NONE verdict) and the
 * child's whole-run maximum RSS. Extra files given with --model are measured the same way.
 *
 * Then the same for an int8 QDQ model of `--int8` layers x width (11x2048: 44 MiB of int8 weights, a
 * size at which a commitment that decoded every weight at once would need more than 9 GB).
 *
 *   npx tsx bench/commitment-memory.ts [--layers 25] [--width 1024] [--int8 11x2048] [--model other.onnx --input-shape 1,3,48,320]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type onnxProto from "onnx-proto";
import { onnx } from "../protocol/index.js";

import { fileURLToPath } from "node:url";

const main = process.argv[1] === fileURLToPath(import.meta.url);
const { values } = parseArgs({
  args: main ? process.argv.slice(2) : [],
  options: {
    layers: { type: "string", default: "25" },
    width: { type: "string", default: "1024" },
    int8: { type: "string", default: "11x2048" },
    model: { type: "string", multiple: true },
    "input-shape": { type: "string", multiple: true },
  },
});
const layers = Number(values.layers);
const width = Number(values.width);

/** An MLP with raw float32 weights: x[1,width] → (MatMul w_i, Relu) × layers. */
export function syntheticMlp(
  layerCount: number,
  w: number,
  int8 = false
): Uint8Array {
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  const node: onnxProto.onnx.INodeProto[] = [];
  let prev = "x";
  for (let i = 0; i < layerCount; i++) {
    const data = int8 ? new Int8Array(w * w) : new Float32Array(w * w);
    let s = (i + 1) * 2654435761;
    for (let j = 0; j < data.length; j++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      data[j] = int8 ? (s >>> 24) - 128 : (s / 2 ** 32 - 0.5) / Math.sqrt(w);
    }
    const out = i === layerCount - 1 ? "y" : `h${i}`;
    if (int8) {
      // QDQ form: the int8 weight dequantized (one scale per tensor), then a float MatMul.
      initializer.push({
        name: `q${i}`,
        dims: [w, w],
        dataType: onnx.TensorProto.DataType.INT8,
        rawData: new Uint8Array(data.buffer),
      });
      initializer.push({
        name: `s${i}`,
        dims: [],
        dataType: onnx.TensorProto.DataType.FLOAT,
        floatData: [1 / (128 * Math.sqrt(w))],
      });
      node.push({
        name: `dq${i}`,
        opType: "DequantizeLinear",
        input: [`q${i}`, `s${i}`],
        output: [`w${i}`],
      });
    } else {
      initializer.push({
        name: `w${i}`,
        dims: [w, w],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(data.buffer),
      });
    }
    node.push({
      name: `mm${i}`,
      opType: "MatMul",
      input: [prev, `w${i}`],
      output: [i === layerCount - 1 ? out : `m${i}`],
    });
    if (i < layerCount - 1)
      node.push({
        name: `relu${i}`,
        opType: "Relu",
        input: [`m${i}`],
        output: [out],
      });
    prev = out;
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "bench/commitment-memory",
    graph: {
      name: "mlp",
      node,
      initializer,
      input: [
        {
          name: "x",
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: [{ dimValue: 1 }, { dimValue: w }] },
            },
          },
        },
      ],
      output: [
        {
          name: "y",
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: [{ dimValue: 1 }, { dimValue: w }] },
            },
          },
        },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** `oracle model check` of a file without calibration or the on-chain probe: the commitment's cost alone. */
function checkArgs(file: string, inputShape?: string): string[] {
  return ["tsx", "cli/main.ts", "model", "check", file, "--no-calibrate", "--no-onchain", "--json", ...(inputShape ? ["--input-shape", inputShape] : [])];
}

export function measure(file: string, inputShape?: string): void {
  const args = checkArgs(file, inputShape);
  const t0 = performance.now();
  const out = execFileSync("npx", args, {
    encoding: "utf8",
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const ms = performance.now() - t0;
  const report = JSON.parse(out) as {
    commitment: { peakRssMiB: number; rssBeforeMiB: number; ms: number } | null;
    summary: { commitmentPeakRssMiB: number | null };
  };
  process.stdout.write(
    `${file}: ${(statSync(file).size / 2 ** 20).toFixed(
      1
    )} MiB file; commitment built in ${report.commitment?.ms} ms; RSS before ${
      report.commitment?.rssBeforeMiB
    } MiB, high-water mark after commitment ${
      report.summary.commitmentPeakRssMiB
    } MiB; whole check ${(ms / 1000).toFixed(1)} s\n`
  );
}

function measureWithTime(file: string, inputShape?: string): void {
  const args = checkArgs(file, inputShape);
  const script = `/usr/bin/time -f '%M' -o /dev/stderr npx ${args
    .map((a) => `'${a}'`)
    .join(" ")} 2>&1 >/dev/null | tail -1`;
  const maxKb = Number(
    execFileSync("bash", ["-c", script], { encoding: "utf8" }).trim()
  );
  process.stdout.write(
    `  whole child process (tsx, the check, then onnxruntime for the NONE verdict): max RSS ${(
      maxKb / 1024
    ).toFixed(0)} MiB\n`
  );
}

if (main) {
  const dir = mkdtempSync(join(tmpdir(), "commitment-memory-"));
  try {
    const file = join(dir, `mlp-${layers}x${width}.onnx`);
    writeFileSync(file, syntheticMlp(layers, width));
    process.stdout.write(
      `synthetic MLP: ${layers} MatMul layers of ${width}x${width} float32 (${(
        (layers * width * width * 4) /
        2 ** 20
      ).toFixed(0)} MiB of weights)\n`
    );
    measure(file);
    measureWithTime(file);
    const [ql, qw] = values.int8!.split("x").map(Number) as [number, number];
    const q = join(dir, `mlp-int8-${ql}x${qw}.onnx`);
    writeFileSync(q, syntheticMlp(ql, qw, true));
    process.stdout.write(
      `synthetic int8 QDQ MLP: ${ql} DequantizeLinear + MatMul layers of ${qw}x${qw} int8 (${(
        (ql * qw * qw) /
        2 ** 20
      ).toFixed(0)} MiB of weights)\n`
    );
    measure(q);
    measureWithTime(q);
    (values.model ?? []).forEach((m, i) => {
      measure(m, values["input-shape"]?.[i]);
      measureWithTime(m, values["input-shape"]?.[i]);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
