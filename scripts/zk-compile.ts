/**
 * Compiles an integer ONNX model to circom and builds it with circom2 (cached by source hash).
 *
 *   tsx scripts/zk-compile.ts [model.onnx]      default: models/mnist-mlp.onnx
 *
 * Prints the model hash, the build folder, constraint counts and the per-node ranges.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MNIST_MODEL_FILE, buildCircuit, compileOnnxToCircom } from "../circuits/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const modelPath = process.argv[2] ?? join(root, "models", MNIST_MODEL_FILE);
const name = basename(modelPath).replace(/\.onnx$/, "").replace(/[^A-Za-z0-9_]/g, "_");
const compiled = compileOnnxToCircom(readFileSync(modelPath));
const build = await buildCircuit(name, compiled.circom);
console.log(JSON.stringify({
  modelHash: compiled.modelHash,
  circuit: join(build.dir, `${name}.circom`),
  cached: build.cached,
  compileSeconds: Number(build.compileSeconds.toFixed(2)),
  nonLinearConstraints: build.nonLinearConstraints,
  linearConstraints: build.linearConstraints,
  publicSignals: { outputWords: compiled.outputWords, inputWords: compiled.inputWords },
  nodes: compiled.layers.map((l) => `${l.node}: ${l.op}${l.template ? ` ${l.template}(${l.params})` : ""} -> [${l.outputRange.join(", ")}]`),
}, null, 2));
