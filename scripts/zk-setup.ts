/**
 * Development Groth16 setup for the ZK demo model (see circuits/setup.ts: the keys come from a
 * public beacon, so they are for tests only), then a timed prove + verify.
 *
 *   tsx scripts/zk-setup.ts
 *
 * Writes models/mnist-mlp.vkey.json and contracts/zk/MnistMlpGroth16Verifier.sol; keeps the
 * ptau and zkey in circuits/build/ (gitignored, rebuilt identically from a clean clone).
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as snarkjs from "snarkjs";
import {
  MNIST_MODEL_FILE, buildCircuit, compileOnnxToCircom, devGroth16Keys, devPowersOfTau, loadMnist7x7, packInt8Words, ptauPowerFor,
} from "../circuits/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(2));

const t0 = performance.now();
const compiled = compileOnnxToCircom(readFileSync(join(root, "models", MNIST_MODEL_FILE)));
const build = await buildCircuit("mnist_mlp", compiled.circom);
const compileS = seconds(t0);
const publicInputs = compiled.inputWords + compiled.outputWords;
const power = ptauPowerFor(build.nonLinearConstraints + build.linearConstraints, publicInputs);

const t1 = performance.now();
const ptau = await devPowersOfTau(power);
const ptauS = seconds(t1);
const t2 = performance.now();
const keys = await devGroth16Keys(build, ptau, "MnistMlpGroth16Verifier");
const zkeyS = seconds(t2);
writeFileSync(join(root, "models", "mnist-mlp.vkey.json"), `${JSON.stringify(keys.verificationKey, null, 2)}\n`);
mkdirSync(join(root, "contracts", "zk"), { recursive: true });
writeFileSync(join(root, "contracts", "zk", "MnistMlpGroth16Verifier.sol"), keys.solidityVerifier);

const proveTimes: number[] = [];
let verified = 0;
let calldataBytes = 0;
for (const sample of loadMnist7x7().test.slice(0, 5)) {
  const tp = performance.now();
  const { proof, publicSignals } = await snarkjs.groth16.fullProve({ inputWords: packInt8Words(sample.pixels).map(String) }, build.wasmPath, keys.zkeyPath);
  proveTimes.push(seconds(tp));
  if (await snarkjs.groth16.verify(keys.verificationKey, publicSignals, proof)) verified++;
  calldataBytes = (await snarkjs.groth16.exportSolidityCallData(proof, publicSignals)).length;
}
console.log(JSON.stringify({
  constraints: build.nonLinearConstraints + build.linearConstraints,
  publicSignals: publicInputs,
  ptauPower: power,
  ptauBytes: statSync(ptau).size,
  zkeyBytes: statSync(keys.zkeyPath).size,
  seconds: { compile: compileS, powersOfTau: ptauS, phase2: zkeyS, fullProve: proveTimes },
  verified: `${verified}/${proveTimes.length}`,
  proofBytes: 256,
  calldataChars: calldataBytes,
}, null, 2));
// snarkjs keeps bn128 worker threads alive.
process.exit(0);
