/**
 * `npm run bench:zk`: the ZK tier at three circuit sizes from the same compiler (the MNIST MLPs with
 * 8, 16 and 32 hidden units). Per model: constraints, Groth16 proving time (snarkjs fullProve,
 * witness included; median of repeats, multi-threaded as a standalone prover and single-threaded as
 * in the worker's prover threads), peak memory of the proving process (a child process per model,
 * its maxRSS), proof size, on-chain verification gas through the generated adapter, and the deployed
 * size of the verifier and the adapter. Baseline measured in the same run: onnxruntime-node running
 * the same model (what a NONE-tier answer costs), as a ratio. Side by side with EZKL's published
 * figures. Writes bench/results/zk.json and prints a Markdown table.
 *
 *   npm run bench:zk [-- --repeats 5]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Contract } from "ethers";
import { network } from "hardhat";
import ort from "onnxruntime-node";
import {
  circuitInput,
  loadMnist7x7,
  prepareZkModel,
  proveInference,
  type ZkModelArtifacts,
  codeBytes,
  compileZkContracts,
  deployZkContracts,
  MAX_CODE_BYTES,
  REPO_ROOT,
} from "../circuits/index.js";
import { encodeTensor, hashEncoded } from "../protocol/index.js";

/** EZKL's published figures (docs and benchmarks; laptop-class CPU). */
const EZKL = {
  model: "EZKL, 10.5k-parameter model",
  provingSeconds: 1.5,
  proofBytes: 25_000,
  verifyGas: "215k-265k",
  note: "Halo2/KZG; figures as published by EZKL, not measured here",
};

const MODELS = ["mnist-mlp-h8", "mnist-mlp-h16", "mnist-mlp"] as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Child process: proves `repeats` digits (after one warm-up) and reports times and its peak RSS. */
const CHILD = `
import * as snarkjs from "snarkjs";
const [inputs, wasm, zkey, single] = JSON.parse(process.argv[1]);
const times = [];
for (let i = 0; i < inputs.length; i++) {
  const t = performance.now();
  await snarkjs.groth16.fullProve(inputs[i], wasm, zkey, undefined, undefined, { singleThread: single });
  if (i > 0) times.push(performance.now() - t);
}
console.log(JSON.stringify({ times, maxRssKiB: process.resourceUsage().maxRSS }));
process.exit(0);
`;

function proveInChild(m: ZkModelArtifacts, inputs: Record<string, unknown>[], singleThread: boolean): { times: number[]; maxRssKiB: number } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD, JSON.stringify([inputs, m.wasmPath, m.zkeyPath, singleThread])], {
    cwd: REPO_ROOT, encoding: "utf8", timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`prover child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { times: number[]; maxRssKiB: number };
}

/** EIP-2028 calldata cost. */
function calldataGas(hex: string): bigint {
  let gas = 0n;
  for (let i = 2; i < hex.length; i += 2) gas += hex.slice(i, i + 2) === "00" ? 4n : 16n;
  return gas;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== "--"), options: { repeats: { type: "string", default: "5" } } });
  const repeats = Math.max(1, Number.parseInt(values.repeats ?? "5", 10) || 5);
  const { ethers } = await network.create();
  const [deployer] = await ethers.getSigners();
  const test = loadMnist7x7().test;
  const rows = [];
  for (const name of MODELS) {
    const path = join(REPO_ROOT, "models", `${name}.onnx`);
    process.stderr.write(`${name}: preparing (cached after the first run)...\n`);
    const m = await prepareZkModel(path);
    const digits = test.slice(0, repeats + 1).map((s) => s.pixels);
    const inputs = digits.map((p) => circuitInput(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));

    process.stderr.write(`${name}: proving ${repeats}x multi-threaded, ${repeats}x single-threaded (child processes)...\n`);
    const multi = proveInChild(m, inputs, false);
    const single = proveInChild(m, inputs, true);

    // Baseline in the same run: onnxruntime-node on the same model and digits.
    const session = await ort.InferenceSession.create(path);
    const ortTimes: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await session.run({ [session.inputNames[0]!]: new ort.Tensor("int8", digits[i % digits.length]!, [1, 7, 7]) });
      if (i >= 5) ortTimes.push(performance.now() - t);
    }
    await session.release();

    // On-chain: compile with solc-js, deploy, measure verifyInference.
    const compiled = compileZkContracts({
      groth16Contract: m.names.groth16Contract, groth16Sol: m.groth16Sol, adapterContract: m.names.adapterContract, adapterSol: m.adapterSol,
    });
    const addr = await deployZkContracts(deployer!, compiled);
    const adapter = new Contract(addr.adapter, compiled.adapter.abi as never, ethers.provider);
    const d = digits[0]!;
    const data = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    const p = await proveInference(m.wasmPath, m.zkeyPath, data, 10);
    const inputHash = hashEncoded(encodeTensor({ dtype: "int8", shape: [1, 7, 7], data: d }));
    const outputHash = hashEncoded(encodeTensor({ dtype: "int8", shape: [1, 10], data: new Int8Array(p.outputData.buffer) }));
    const args = [m.modelHash, inputHash, outputHash, p.proof] as const;
    if (!(await adapter.getFunction("verifyInference")(...args))) throw new Error(`${name}: the proof did not verify on-chain`);
    const txGas = await adapter.getFunction("verifyInference").estimateGas(...args);
    const execGas = txGas - 21_000n - calldataGas(adapter.interface.encodeFunctionData("verifyInference", args));

    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "models", `${name}.json`), "utf8")) as { parameters: number; architecture: string; quantizedTestAccuracy: number };
    const row = {
      model: name,
      architecture: manifest.architecture,
      parameters: manifest.parameters,
      heldOutAccuracy: manifest.quantizedTestAccuracy,
      constraints: m.constraints,
      proveMsMultiThread: Math.round(median(multi.times)),
      proveMsSingleThread: Math.round(median(single.times)),
      proveMsAll: { multi: multi.times.map(Math.round), single: single.times.map(Math.round) },
      peakRssMiB: { multi: Math.round(multi.maxRssKiB / 1024), single: Math.round(single.maxRssKiB / 1024) },
      onnxruntimeMs: Number(median(ortTimes).toFixed(3)),
      proveOverOnnxruntime: Math.round(median(multi.times) / median(ortTimes)),
      proofBytes: { groth16: 256, submitted: (p.proof.length - 2) / 2 },
      verifyGas: { transaction: Number(txGas), execution: Number(execGas) },
      deployedBytes: { groth16Verifier: codeBytes(compiled.groth16.deployedBytecode), adapter: codeBytes(compiled.adapter.deployedBytecode), limit: MAX_CODE_BYTES },
    };
    rows.push(row);
    process.stderr.write(`${name}: ${JSON.stringify(row)}\n`);
  }

  const table = [
    "| model | params | held-out acc. | constraints | prove (multi-thread) | prove (1 thread, as in the worker) | peak RSS | onnxruntime | prove / ORT | proof (Groth16 / submitted) | verify gas (tx / execution) | verifier + adapter bytes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.model} (${r.architecture}) | ${r.parameters} | ${(r.heldOutAccuracy * 100).toFixed(1)} % | ${r.constraints} | ${r.proveMsMultiThread} ms | ${r.proveMsSingleThread} ms | ${r.peakRssMiB.multi} MiB | ${r.onnxruntimeMs} ms | ${r.proveOverOnnxruntime}x | ${r.proofBytes.groth16} B / ${r.proofBytes.submitted} B | ${r.verifyGas.transaction} / ${r.verifyGas.execution} | ${r.deployedBytes.groth16Verifier} + ${r.deployedBytes.adapter} |`),
    `| ${EZKL.model} (published) | 10,500 | - | - | ~1,500 ms (laptop) | - | - | - | - | ~25,000 B | 215k-265k | - |`,
  ].join("\n");
  const result = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), Node ${process.version}; load average ${loadavg()[0]!.toFixed(1)}`,
    repeats,
    rows,
    ezkl: EZKL,
    targets: { demoProveUnderMs: 1500, demoVerifyGasUnder: 250_000 },
    table,
  };
  mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
  writeFileSync(join(REPO_ROOT, "bench", "results", "zk.json"), `${JSON.stringify(result, null, 2)}\n`);
  console.log(table);
  const demo = rows.find((r) => r.model === "mnist-mlp")!;
  console.log(`\ndemo model: prove ${demo.proveMsMultiThread} ms (target < 1500), verify ${demo.verifyGas.transaction} gas as a transaction / ${demo.verifyGas.execution} execution (target < 250k)`);
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
