/**
 * Trains the ZK-tier MNIST models (the demo model mnist-mlp and its smaller siblings, MNIST_VARIANTS)
 * and writes models/<variant>.onnx plus manifests. Deterministic: running it again rewrites the same
 * bytes (test/circuits checks this).
 *
 *   tsx scripts/zk-train.ts [--check] [variant...]     --check: fail if the committed files differ
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { buildMnistModelFiles, MNIST_VARIANTS, type MnistVariant } from "../circuits/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
for (const v of named) if (!(v in MNIST_VARIANTS)) throw new Error(`unknown variant ${v}; one of ${Object.keys(MNIST_VARIANTS).join(", ")}`);
const variants = (named.length > 0 ? named : Object.keys(MNIST_VARIANTS)) as MnistVariant[];
mkdirSync(join(root, "models"), { recursive: true });
let stale = false;
for (const variant of variants) {
const started = performance.now();
const files = buildMnistModelFiles(variant);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
for (const [name, bytes] of Object.entries(files.files)) {
  const path = join(root, "models", name);
  if (check) {
    let old: Buffer | undefined;
    try { old = readFileSync(path); } catch { old = undefined; }
    if (!old || !old.equals(Buffer.from(bytes))) { stale = true; console.error(`stale: models/${name}`); }
  } else {
    writeFileSync(path, bytes);
  }
}
console.log(JSON.stringify({ seconds: Number(seconds), ...files.manifest }, null, 2));
}
if (stale) process.exit(1);
