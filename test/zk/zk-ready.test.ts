/**
 * `npm run zk:ready` end to end for a small model (models/mnist-mlp-h8.onnx) against the in-process
 * chain: circuit, phase-2 key from the committed ptau, generated verifier + adapter compiled with
 * solc-js, deployed, approved (the signer is the registry admin) and registered; a real proof then
 * verifies through the registered zkVerifier. The CLI's argument check runs as a process.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Contract, ZeroAddress } from "ethers";
import { network } from "hardhat";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_CODE_BYTES, makeZkReady } from "../../circuits/index.js";
import { digits, prove, REPO } from "./fixture.js";

const H8 = join(REPO, "models", "mnist-mlp-h8.onnx");

describe("zk:ready", () => {
  const out = mkdtempSync(join(tmpdir(), "zk-ready-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("makes a model zk-ready on a chain: deploy, approve, register, then update; a proof verifies through the registry's verifier", async () => {
    const { ethers } = await network.create();
    const [admin] = await ethers.getSigners();
    const registry: any = await ethers.deployContract("ModelRegistry", [admin!.address]);
    const lines: string[] = [];
    const first = await makeZkReady({
      modelPath: H8, outDir: out, vkeyPath: join(out, "h8.vkey.json"), signer: admin!, registry: await registry.getAddress(),
      progress: (l) => lines.push(l),
    });
    expect(lines.some((l) => l.includes("phase-2 setup"))).toBe(true);
    expect(first.registry).toEqual({ action: "registered", approved: true });
    expect(first.bytecodeBytes.groth16).toBeLessThan(MAX_CODE_BYTES);
    expect(first.bytecodeBytes.adapter).toBeLessThan(MAX_CODE_BYTES);
    for (const f of first.files) expect(existsSync(f)).toBe(true);
    expect(readFileSync(join(out, "MnistMlpH8ZkVerifier.sol"), "utf8")).toContain(first.artifacts.modelHash);

    const hash = first.artifacts.modelHash;
    const terms = await registry.terms(hash);
    expect(terms.zkVerifier).toBe(first.deployed!.adapter);
    expect(Number(terms.tiers) & 4).toBe(4);
    const info = await registry.model(hash);
    expect([...info.input.shape].map(Number)).toEqual([1, 7, 7]);
    expect(info.resolver).toBe(ZeroAddress);

    const [d] = digits(1, 7);
    const p = await prove(first.artifacts, d!.data);
    const verifier = new Contract(terms.zkVerifier, ["function verifyInference(bytes32,bytes32,bytes32,bytes) view returns (bool)"], ethers.provider);
    expect(await verifier.getFunction("verifyInference")(hash, d!.hash, p.outputHash, p.proof)).toBe(true);
    expect(await verifier.getFunction("verifyInference")(hash, d!.hash, p.outputHash.replace(/.$/, (c) => (c === "0" ? "1" : "0")), p.proof)).toBe(false);

    // Running it again (e.g. after a new setup) deploys fresh contracts and updates the entry.
    const second = await makeZkReady({ modelPath: H8, outDir: out, vkeyPath: join(out, "h8.vkey.json"), signer: admin!, registry: await registry.getAddress() });
    expect(second.registry).toEqual({ action: "updated", approved: true });
    expect((await registry.terms(hash)).zkVerifier).toBe(second.deployed!.adapter);
  }, 600_000);

  it("the CLI refuses --rpc without a key before doing any work", () => {
    const r = spawnSync(join(REPO, "node_modules", ".bin", "tsx"), ["scripts/zk-ready.ts", H8, "--rpc", "http://127.0.0.1:1"], {
      cwd: REPO, encoding: "utf8", timeout: 120_000, env: { ...process.env, ZK_READY_KEY: "" },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--rpc needs --key");
  }, 120_000);
});
