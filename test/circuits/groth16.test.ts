import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { network } from "hardhat";
import * as snarkjs from "snarkjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  MNIST_MODEL_FILE, PTAU_DIR, buildCircuit, compileOnnxToCircom, devGroth16Keys, loadMnist7x7, packInt8Words, ptauPowerFor,
  type CircuitBuild, type DevKeys,
} from "../../circuits/index.js";
import { REPO } from "./helpers.js";

// The dev powers of tau take minutes on 2 cores, so the file is made once and committed
// (circuits/ptau/); a missing file is a failure here, never a silent skip.
const modelBytes = readFileSync(join(REPO, "models", MNIST_MODEL_FILE));
const compiled = compileOnnxToCircom(modelBytes);
const PTAU = join(PTAU_DIR, "pot12_dev.ptau");

describe("Groth16 with the development setup", () => {
  let build: CircuitBuild;
  let keys: DevKeys;

  beforeAll(async () => {
    expect(existsSync(PTAU), `${PTAU} is committed; run tsx scripts/zk-setup.ts to remake it`).toBe(true);
    build = await buildCircuit("mnist_mlp", compiled.circom);
    expect(ptauPowerFor(build.nonLinearConstraints + build.linearConstraints, 3)).toBe(12);
    keys = await devGroth16Keys(build, PTAU, "MnistMlpGroth16Verifier");
  });

  it("the setup is reproducible: the committed verification key and verifier match", () => {
    expect(keys.verificationKey).toEqual(JSON.parse(readFileSync(join(REPO, "models", "mnist-mlp.vkey.json"), "utf8")));
    expect(keys.solidityVerifier).toBe(readFileSync(join(REPO, "contracts", "zk", "MnistMlpGroth16Verifier.sol"), "utf8"));
  });

  it("proves a classification off-chain and on-chain; a changed output is rejected", async () => {
    const digit = loadMnist7x7().test[0]?.pixels as Int8Array;
    const { proof, publicSignals } = await snarkjs.groth16.fullProve({ inputWords: packInt8Words(digit).map(String) }, build.wasmPath, keys.zkeyPath);
    expect(publicSignals).toHaveLength(3);
    expect(await snarkjs.groth16.verify(keys.verificationKey, publicSignals, proof)).toBe(true);
    const forged = [(BigInt(publicSignals[0] as string) ^ 1n).toString(), ...publicSignals.slice(1)];
    expect(await snarkjs.groth16.verify(keys.verificationKey, forged, proof)).toBe(false);

    const conn = await network.create();
    const verifier = await conn.ethers.deployContract("MnistMlpGroth16Verifier");
    type Pair = [string, string];
    type CallArgs = [Pair, [Pair, Pair], Pair, [string, string, string]];
    const args = JSON.parse(`[${await snarkjs.groth16.exportSolidityCallData(proof, publicSignals)}]`) as CallArgs;
    expect(await verifier.getFunction("verifyProof").staticCall(...args)).toBe(true);
    const gas = await verifier.getFunction("verifyProof").estimateGas(...args);
    console.log(`[zk] on-chain Groth16 verification: ${gas} gas (estimate, including 21k base)`);
    const bad: CallArgs = [args[0], args[1], args[2], [forged[0] as string, args[3][1], args[3][2]]];
    expect(await verifier.getFunction("verifyProof").staticCall(...bad)).toBe(false);
  });
});
