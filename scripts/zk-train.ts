/**
 * Trains the ZK-tier demo model and writes models/mnist-mlp.onnx plus its manifest.
 * Deterministic: running it again rewrites the same bytes (test/circuits checks this).
 *
 *   tsx scripts/zk-train.ts [--check]     --check: fail if the committed files differ
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { buildMnistModelFiles } from "../circuits/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const started = performance.now();
const files = buildMnistModelFiles();
const seconds = ((performance.now() - started) / 1000).toFixed(1);
mkdirSync(join(root, "models"), { recursive: true });
let stale = false;
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
if (stale) process.exit(1);
