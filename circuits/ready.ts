/**
 * Makes an integer ONNX model zk-ready in one go (`npm run zk:ready`): compile the circuit, phase-2
 * setup from the kept powers of tau, generate the Groth16 verifier and the IZkVerifier adapter,
 * compile both with solc-js and, given a chain, deploy them and point the model's registry entry at
 * the adapter (approving it first when the caller is the registry admin).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ZeroAddress, ZeroHash, type Signer } from "ethers";
import { ModelRegistry__factory } from "../types/ethers-contracts/index.js";
import { codeBytes, compileZkContracts, deployZkContracts, MAX_CODE_BYTES } from "./solc.js";
import { prepareZkModel, type ZkModelArtifacts } from "./zk.js";

/** ONNX dtype code of int8 and the registry's ZK tier bit. */
const INT8 = 3;
const TIER_ZK = 1 << 2;

export interface ZkReadyOptions {
  modelPath: string;
  /** Where the generated Solidity goes (default contracts/zk next to the repo's contracts). */
  outDir: string;
  /** Where the verification key JSON goes (default: next to the model, <stem>.vkey.json). */
  vkeyPath?: string;
  ptauPath?: string;
  /** Deploy and register with this signer (omit to only generate and compile). */
  signer?: Signer;
  registry?: string;
  /** For a model not yet registered: its fee (wei) and where workers fetch it. */
  fee?: bigint;
  uris?: string[];
  progress?: (line: string) => void;
}

export interface ZkReadyResult {
  artifacts: ZkModelArtifacts;
  files: string[];
  bytecodeBytes: { groth16: number; adapter: number };
  deployed?: { groth16: string; adapter: string };
  registry?: { action: "registered" | "updated" | "unchanged" | "needs-approval"; approved: boolean };
}

export async function makeZkReady(o: ZkReadyOptions): Promise<ZkReadyResult> {
  const progress = o.progress ?? (() => undefined);
  const t0 = performance.now();
  const step = (s: string) => progress(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${s}`);
  const artifacts = await prepareZkModel(o.modelPath, { ...(o.ptauPath ? { ptauPath: o.ptauPath } : {}), progress: step });
  const { names } = artifacts;

  mkdirSync(o.outDir, { recursive: true });
  const files = [join(o.outDir, `${names.groth16Contract}.sol`), join(o.outDir, `${names.adapterContract}.sol`)];
  writeFileSync(files[0]!, artifacts.groth16Sol);
  writeFileSync(files[1]!, artifacts.adapterSol);
  const vkeyPath = o.vkeyPath ?? join(dirname(o.modelPath), `${basename(o.modelPath).replace(/\.onnx$/, "")}.vkey.json`);
  writeFileSync(vkeyPath, `${JSON.stringify(artifacts.verificationKey, null, 2)}\n`);
  files.push(vkeyPath);
  step(`wrote ${files.join(", ")}`);

  step("compiling the verifier and the adapter with solc-js");
  const compiled = compileZkContracts({
    groth16Contract: names.groth16Contract, groth16Sol: artifacts.groth16Sol,
    adapterContract: names.adapterContract, adapterSol: artifacts.adapterSol,
  });
  const bytecodeBytes = { groth16: codeBytes(compiled.groth16.deployedBytecode), adapter: codeBytes(compiled.adapter.deployedBytecode) };
  for (const [k, v] of Object.entries(bytecodeBytes)) {
    if (v > MAX_CODE_BYTES) throw new Error(`${k} is ${v} bytes deployed, above the ${MAX_CODE_BYTES}-byte limit`);
  }
  const result: ZkReadyResult = { artifacts, files, bytecodeBytes };
  if (o.signer === undefined) return result;

  step("deploying the verifier and the adapter");
  const deployed = await deployZkContracts(o.signer, compiled);
  result.deployed = deployed;
  step(`deployed ${names.groth16Contract} at ${deployed.groth16}, ${names.adapterContract} at ${deployed.adapter}`);
  if (o.registry === undefined) return result;

  const registry = ModelRegistry__factory.connect(o.registry, o.signer);
  const me = (await o.signer.getAddress()).toLowerCase();
  let approved = await registry.isApprovedResolver(deployed.adapter);
  if (!approved && (await registry.admin()).toLowerCase() === me) {
    step("approving the adapter (the signer is the registry admin)");
    await (await registry.setResolverApproval(deployed.adapter, true)).wait();
    approved = true;
  }
  if (!approved) {
    step(`the registry admin must approve ${deployed.adapter} (setResolverApproval) before the model can use it`);
    result.registry = { action: "needs-approval", approved };
    return result;
  }
  const hash = artifacts.modelHash;
  if (await registry.isRegistered(hash)) {
    const m = await registry.model(hash);
    step("updating the model's zkVerifier");
    await (
      await registry.updateModel(hash, {
        owner: m.owner, fee: m.fee, tiers: Number(m.tiers) | TIER_ZK, active: m.active, resolver: m.resolver,
        zkVerifier: deployed.adapter, commitmentRoot: m.commitmentRoot,
        input: { dtype: m.input.dtype, shape: [...m.input.shape] }, output: { dtype: m.output.dtype, shape: [...m.output.shape] },
        uris: [...m.uris],
      })
    ).wait();
    result.registry = { action: "updated", approved };
  } else {
    step("registering the model (ZK tier)");
    await (
      await registry.registerModel(hash, {
        owner: await o.signer.getAddress(), fee: o.fee ?? 0n, tiers: TIER_ZK, active: true, resolver: ZeroAddress,
        zkVerifier: deployed.adapter, commitmentRoot: ZeroHash,
        input: { dtype: INT8, shape: artifacts.compiled.inputShape }, output: { dtype: INT8, shape: artifacts.compiled.outputShape },
        uris: o.uris ?? [`file://${o.modelPath}`],
      })
    ).wait();
    result.registry = { action: "registered", approved };
  }
  step("done");
  return result;
}
